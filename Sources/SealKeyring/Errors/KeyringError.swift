#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The error thrown by every keyring operation: the keyring file, the lifecycle, topic filters and hot reload.
///
/// The ``code`` is stable and machine readable (the CLI maps it to an exit code); the ``message`` is one line of
/// text for a human that says what is wrong. A keyring error never contains secret material.
public struct KeyringError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of a keyring error. Extensible: new codes may be added in later versions, so switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case corrupt
            case wrongCredential
            case permissions
            case invalidTransition
            case unknownKey
            case unsupportedVersion
            case locked
            case io
            case invalidArgument
            case noPrimary
            case topicNotAllowed
            case keyUnusable
            case alreadyExists
            case notFound
        }

        private let value: Value

        private init(_ value: Value) { self.value = value }

        /// The file is damaged or was tampered with: it does not parse, a checksum or the MAC does not match, or a
        /// secret does not decrypt. The file is left untouched.
        public static let corrupt = Code(.corrupt)
        /// The passphrase or key-encryption-key file does not unlock this keyring.
        public static let wrongCredential = Code(.wrongCredential)
        /// The keyring (or key-encryption-key) file is readable or writable by the group or by others, or is not
        /// a regular file.
        public static let permissions = Code(.permissions)
        /// A lifecycle transition that the current state does not allow.
        public static let invalidTransition = Code(.invalidTransition)
        /// No key (kid) or signer (sid) with that id exists in the keyring.
        public static let unknownKey = Code(.unknownKey)
        /// The file names a format or version this library does not read.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The file lock could not be taken in time: another writer holds it.
        public static let locked = Code(.locked)
        /// An operating-system call failed (open, read, write, fsync, rename, ...).
        public static let io = Code(.io)
        /// A malformed argument: a key id, a date, a topic, a topic filter, a suite, a parameter.
        public static let invalidArgument = Code(.invalidArgument)
        /// No primary key's topic filter matches the topic to seal.
        public static let noPrimary = Code(.noPrimary)
        /// A key or signer was used on a topic outside its topic filters (the cryptographic ACL).
        public static let topicNotAllowed = Code(.topicNotAllowed)
        /// The key exists but its state (disabled, destroyed, expired) does not allow the requested use.
        public static let keyUnusable = Code(.keyUnusable)
        /// The keyring file already exists (on create).
        public static let alreadyExists = Code(.alreadyExists)
        /// The keyring file (or another named file) does not exist.
        public static let notFound = Code(.notFound)

        /// The code's stable name, for example `corrupt`.
        public var description: String { value.rawValue }
    }

    /// The class of the error.
    public let code: Code
    /// One line for a human that says what is wrong. Never contains secret material.
    public let message: String

    /// Creates an error with a code and a one-line message (newlines are replaced by spaces).
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = String(message.map { $0.isNewline ? " " : $0 })
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}

extension KeyringError {
    static func io(_ what: String, path: String, errno err: Int32) -> KeyringError {
        KeyringError(.io, "\(what) \(path) failed: \(errnoDescription(err))")
    }
}

func errnoDescription(_ err: Int32) -> String {
    guard let cString = strerror(err) else { return "errno \(err)" }
    return "\(String(cString: cString)) (errno \(err))"
}

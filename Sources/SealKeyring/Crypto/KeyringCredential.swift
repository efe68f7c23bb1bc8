import Seal

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What unlocks a keyring: a passphrase (stretched with Argon2id) or a 32-byte key-encryption key read from a
/// file. The bytes live in wiped storage; the credential can be kept by a hot reloader for its lifetime.
///
/// Interactive prompting is the application's job (the `mqtt-seal` CLI reads `/dev/tty` with echo off); hand the
/// bytes over with ``passphrase(bytes:)-([UInt8])`` (or ``passphrase(bytes:)-(UnsafeBufferPointer<UInt8>)``) and
/// wipe your copy.
public final class KeyringCredential: Sendable {
    enum Kind: Sendable {
        case passphrase
        case keyEncryptionKey
    }

    let kind: Kind
    let secret: SecureBytes

    /// The environment variable read by ``resolve(passphraseFile:keyEncryptionKeyFile:environment:prompt:)``.
    public static let environmentVariable = "MQTT_SEAL_PASSPHRASE"

    private init(kind: Kind, secret: SecureBytes) {
        self.kind = kind
        self.secret = secret
    }

    /// A passphrase given as text. Swift strings cannot be wiped; prefer the file, environment or prompt forms.
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) for an empty passphrase.
    public static func passphrase(_ text: String) throws(KeyringError) -> KeyringCredential {
        var bytes = Array(text.utf8)
        defer { wipe(&bytes) }
        return try passphrase(bytes: bytes)
    }

    /// A passphrase given as UTF-8 bytes (the caller wipes its copy).
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) for an empty passphrase.
    public static func passphrase(bytes: [UInt8]) throws(KeyringError) -> KeyringCredential {
        try bytes.withUnsafeBufferPointer { buffer throws(KeyringError) in try passphrase(bytes: buffer) }
    }

    /// A passphrase given as UTF-8 bytes in the caller's memory (the caller wipes it). Copied once, straight into
    /// wiped storage.
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) for an empty passphrase.
    public static func passphrase(bytes: UnsafeBufferPointer<UInt8>) throws(KeyringError) -> KeyringCredential {
        guard !bytes.isEmpty else { throw KeyringError(.invalidArgument, "the passphrase is empty") }
        return KeyringCredential(kind: .passphrase, secret: SecureBytes(copying: UnsafeRawBufferPointer(bytes)))
    }

    /// Reads a passphrase from a file (mode 0600 or stricter); one trailing newline (LF or CRLF) is removed.
    ///
    /// - Throws: ``KeyringError``: `notFound`, `permissions`, `io`, or `invalidArgument` when it is empty.
    public static func passphraseFile(_ path: String) throws(KeyringError) -> KeyringCredential {
        var (bytes, _) = try KeyringIO.readSecretFile(path: path, what: "passphrase file")
        defer { wipe(&bytes) }
        var count = bytes.count
        if count > 0, bytes[count - 1] == UInt8(ascii: "\n") {
            count -= 1
            if count > 0, bytes[count - 1] == UInt8(ascii: "\r") { count -= 1 }
        }
        guard count > 0 else { throw KeyringError(.invalidArgument, "passphrase file \(path) is empty") }
        let secret = bytes.withUnsafeBytes {
            SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<count]))
        }
        return KeyringCredential(kind: .passphrase, secret: secret)
    }

    /// Reads a key-encryption-key file (mode 0600 or stricter): exactly 32 raw bytes, or 64 hex digits with an
    /// optional trailing newline.
    ///
    /// - Throws: ``KeyringError``: `notFound`, `permissions`, `io`, or `invalidArgument` for any other content.
    public static func keyEncryptionKeyFile(_ path: String) throws(KeyringError) -> KeyringCredential {
        var (bytes, _) = try KeyringIO.readSecretFile(path: path, what: "key-encryption-key file")
        defer { wipe(&bytes) }
        if bytes.count == KeyringSodium.keyBytes {
            let secret = bytes.withUnsafeBytes { SecureBytes(copying: $0) }
            return KeyringCredential(kind: .keyEncryptionKey, secret: secret)
        }
        var count = bytes.count
        if count > 0, bytes[count - 1] == UInt8(ascii: "\n") { count -= 1 }
        guard count == 2 * KeyringSodium.keyBytes else {
            throw KeyringError(
                .invalidArgument, "key-encryption-key file \(path) must hold 32 raw bytes or 64 hex digits")
        }
        guard let secret = Sodium.unhex(bytes[..<count], byteCount: KeyringSodium.keyBytes) else {
            throw KeyringError(
                .invalidArgument, "key-encryption-key file \(path) must hold 32 raw bytes or 64 hex digits")
        }
        return KeyringCredential(kind: .keyEncryptionKey, secret: secret)
    }

    /// Creates a new key-encryption-key file: 32 random bytes as 64 hex digits and a newline, mode 0600. Refuses
    /// to overwrite an existing file.
    ///
    /// - Throws: ``KeyringError``: `alreadyExists`, `io`.
    @discardableResult
    public static func generateKeyEncryptionKeyFile(_ path: String) throws(KeyringError) -> KeyringCredential {
        let secret = SecureBytes(randomCount: KeyringSodium.keyBytes)
        var hex = Sodium.hex(secret)
        defer { wipe(&hex) }
        hex.append(UInt8(ascii: "\n"))
        try KeyringIO.atomicWrite(path: path, bytes: hex, exclusive: true)
        return KeyringCredential(kind: .keyEncryptionKey, secret: secret)
    }

    /// The usual way to obtain a credential, in this order: a key-encryption-key file if given; a passphrase file
    /// if given; the environment variable `MQTT_SEAL_PASSPHRASE`; then `prompt`, when given (the CLI passes one
    /// that reads the controlling terminal; this module never prompts).
    ///
    /// - Parameters:
    ///   - passphraseFile: a passphrase file, read with ``passphraseFile(_:)`` unless a key-encryption-key file
    ///     is given.
    ///   - keyEncryptionKeyFile: a key-encryption-key file, read with ``keyEncryptionKeyFile(_:)``; it wins over
    ///     every other source.
    ///   - environment: the environment to read (defaults to the process environment).
    ///   - prompt: asked last, when no file or environment variable gave a credential; nil from it means none.
    /// - Throws: ``KeyringError`` (`invalidArgument`) when no source is available, or the source's own error.
    public static func resolve(
        passphraseFile: String? = nil, keyEncryptionKeyFile: String? = nil,
        environment: [String: String]? = nil,
        prompt: (() throws(KeyringError) -> KeyringCredential?)? = nil
    ) throws(KeyringError) -> KeyringCredential {
        if let keyEncryptionKeyFile { return try Self.keyEncryptionKeyFile(keyEncryptionKeyFile) }
        if let passphraseFile { return try Self.passphraseFile(passphraseFile) }
        if let environment {
            if let value = environment[environmentVariable] { return try passphrase(value) }
        } else if let value = getenv(environmentVariable) {
            // Straight from the C string into wiped storage: no intermediate array whose copy-on-write twin could
            // outlive the wipe.
            let length = strlen(value)
            guard length > 0 else { throw KeyringError(.invalidArgument, "the passphrase is empty") }
            let secret = SecureBytes(copying: UnsafeRawBufferPointer(start: value, count: length))
            return KeyringCredential(kind: .passphrase, secret: secret)
        }
        if let prompt, let credential = try prompt() { return credential }
        throw KeyringError(
            .invalidArgument,
            "no passphrase: set \(environmentVariable), pass --passphrase-file or --kek-file, or run on a terminal")
    }

    /// Zeroes an array's storage in place. The array must be uniquely referenced (a copy-on-write twin would be
    /// copied and wiped instead of the original), so every caller wipes the one array it created.
    package static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { Sodium.wipe($0) }
    }
}

public import SealKeyring

/// The error thrown by fleet operations: enrolment requests, key slots, acks, the registry and grants.
///
/// Every key slot that a device refuses throws code ``Code-swift.struct/slotRejected`` whatever failed, and
/// ``rejection`` names the check (for counting and logs), as `SealError` (Seal) does for envelopes. The device keeps
/// its current keys in every such case.
public struct FleetError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of a fleet error. Extensible: switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case slotRejected
            case requestRejected
            case reportRejected
            case invalidArgument
            case unknownDevice
            case alreadyExists
            case notDevice
            case corrupt
            case keyring
        }

        private let value: Value

        private init(_ value: Value) { self.value = value }

        /// A key slot was refused: see ``FleetError/rejection``.
        public static let slotRejected = Code(.slotRejected)
        /// An enrolment request is malformed or its proof of possession does not verify.
        public static let requestRejected = Code(.requestRejected)
        /// A device's ack or slot request is malformed, from an unknown device, or its signature does not verify.
        public static let reportRejected = Code(.reportRejected)
        /// A malformed argument: a device id, a topic filter, a percentage, a prefix.
        public static let invalidArgument = Code(.invalidArgument)
        /// No device with that id is enrolled.
        public static let unknownDevice = Code(.unknownDevice)
        /// The device (or the fleet file) already exists.
        public static let alreadyExists = Code(.alreadyExists)
        /// The keyring is not a device keyring (or not an authority keyring).
        public static let notDevice = Code(.notDevice)
        /// The fleet registry file is damaged or was changed without the authority key.
        public static let corrupt = Code(.corrupt)
        /// The underlying keyring operation failed; ``FleetError/keyringError`` holds it.
        public static let keyring = Code(.keyring)

        /// The code's stable name, for example `slotRejected`.
        public var description: String { value.rawValue }
    }

    /// Why a key slot was refused.
    public enum SlotRejection: String, Sendable, Hashable, CaseIterable {
        /// Too short, too long, a bad magic or type, a bad length field, or a plaintext that is not a snapshot.
        case malformed
        /// The slot is signed by a key the device does not pin.
        case unknownAuthority
        /// The authority signature does not verify (the bytes were changed).
        case badSignature
        /// The slot is addressed to another device.
        case wrongDevice
        /// The slot's sequence is lower than the one the device applied.
        case staleSequence
        /// HPKE does not open the slot with this device's X25519 key.
        case undecryptable
    }

    /// The class of the error.
    public let code: Code
    /// One line for a human. Never contains secret material.
    public let message: String
    /// For ``Code-swift.struct/slotRejected``: the check that failed.
    public let rejection: SlotRejection?
    /// For ``Code-swift.struct/keyring``: the keyring error.
    public let keyringError: KeyringError?

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = String(message.map { $0.isNewline ? " " : $0 })
        self.rejection = nil
        self.keyringError = nil
    }

    init(slot rejection: SlotRejection, _ message: String) {
        self.code = .slotRejected
        self.message = message
        self.rejection = rejection
        self.keyringError = nil
    }

    init(keyring error: KeyringError) {
        self.code = .keyring
        self.message = error.message
        self.rejection = nil
        self.keyringError = error
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}

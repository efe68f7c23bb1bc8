package import Seal

/// The fleet section of a device's keyring: who the device is, the X25519 key its key slots are sealed to, the
/// authorities it trusts, and the sequence of the last slot it applied (Specs/fleet.md, Specs/keyring.md §12).
///
/// A keyring with a device section is managed by the fleet: every applied slot replaces its keys and signers as
/// one atomic file write, so a crash leaves the old or the new state. The device's own Ed25519 identity (named
/// after the device id) and this section survive every slot.
public struct KeyringDevice: Sendable {
    /// The device id: 1 to 64 characters from `A-Z a-z 0-9 . _ - @`, not starting with `-`; a single topic level.
    public let id: String
    /// The 32-byte X25519 public key that key slots are sealed to (HPKE recipient).
    public let recipientPublicKey: [UInt8]
    /// The X25519 private key, in wiped storage. Never leaves the device.
    package let recipientSecret: SecureBytes
    /// The pinned Ed25519 public keys of the fleet authorities whose slots the device accepts.
    public internal(set) var authorities: [[UInt8]]
    /// The sequence of the last slot applied; 0 before the first.
    public internal(set) var sequence: UInt64
    /// Creation time (UTC, whole seconds).
    package let createdSeconds: Int64

    /// The longest device id, in UTF-8 bytes.
    public static let maximumIDLength = 64

    package init(
        id: String, recipientPublicKey: [UInt8], recipientSecret: SecureBytes, authorities: [[UInt8]],
        sequence: UInt64, createdSeconds: Int64
    ) {
        self.id = id
        self.recipientPublicKey = recipientPublicKey
        self.recipientSecret = recipientSecret
        self.authorities = authorities
        self.sequence = sequence
        self.createdSeconds = createdSeconds
    }

    /// Checks a device id: the rules of ``KeyringIdentity/validateName(_:)`` (it is also the name of the device's
    /// signing identity, and one level of its slot topic).
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) naming what is wrong.
    public static func validateID(_ id: String) throws(KeyringError) {
        do {
            try KeyringIdentity.validateName(id)
        } catch {
            throw KeyringError(.invalidArgument, "device id: \(error.message)")
        }
    }

    /// Whether `publicKey` is one of the pinned authorities (constant-time per comparison).
    public func trusts(authority publicKey: [UInt8]) -> Bool {
        var found = false
        for pinned in authorities where pinned.count == publicKey.count {
            if KeyringSodium.constantTimeEqual(pinned, publicKey) { found = true }
        }
        return found
    }
}

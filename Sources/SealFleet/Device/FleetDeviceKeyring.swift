import Crypto
import Seal
public import SealKeyring

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A device's side of the fleet, on its own keyring file (Specs/fleet.md §5): create the identity, apply slots
/// atomically, sign acks and requests.
public struct FleetDeviceKeyring: Sendable {
    /// The device keyring file.
    public let file: KeyringFile
    /// What unlocks it.
    public let credential: KeyringCredential

    /// A device keyring at `file`.
    public init(file: KeyringFile, credential: KeyringCredential) {
        self.file = file
        self.credential = credential
    }

    /// What applying a slot did.
    public enum Outcome: Sendable, Hashable {
        /// The slot was new and is now the device's state.
        case applied(sequence: UInt64, keys: Int, signers: Int)
        /// The slot is the one already applied (a redelivery): nothing changed.
        case alreadyApplied(sequence: UInt64)
    }

    /// Creates the device keyring (mode 0600) with a fresh X25519 key and Ed25519 identity, pins the authority,
    /// and returns the signed enrolment request. The private halves never leave the file.
    ///
    /// - Throws: ``FleetError``: `invalidArgument` for a bad id or authority key; `keyring` (`alreadyExists`, `io`).
    public static func create(
        file: KeyringFile, credential: KeyringCredential, device: String, authority: [UInt8],
        kdf: KeyringKDFParameters = .interactive, now: Date = Date()
    ) throws(FleetError) -> EnrolmentRequest {
        do {
            try KeyringDevice.validateID(device)
        } catch {
            throw FleetError(.invalidArgument, error.message)
        }
        let recipient = Curve25519.KeyAgreement.PrivateKey()
        let secret = recipient.rawRepresentation.withUnsafeBytes { SecureBytes(copying: $0) }
        let publicKey = Array(recipient.publicKey.rawRepresentation)
        let identity: SigningKey
        do {
            identity = try SigningKey.generate()
        } catch {
            throw FleetError(.invalidArgument, "cannot create the signing key")
        }
        let seconds = KeyringTime.seconds(now)
        var keyring = Keyring()
        do throws(KeyringError) {
            try keyring.makeDevice(
                KeyringDevice(
                    id: device, recipientPublicKey: publicKey, recipientSecret: secret, authorities: [],
                    sequence: 0, createdSeconds: seconds),
                signingKey: identity, now: seconds)
            try keyring.pinAuthority(authority)
        } catch {
            throw FleetError(.invalidArgument, error.message)
        }
        do {
            try file.create(keyring, credential: credential, kdf: kdf)
        } catch {
            throw FleetError(keyring: error)
        }
        return try EnrolmentRequest.make(
            device: device, identity: identity, recipientKey: publicKey, createdSeconds: seconds)
    }

    /// The current device keyring.
    ///
    /// - Throws: ``FleetError`` (`keyring`; `notDevice` for a keyring without a device section).
    public func load() throws(FleetError) -> Keyring {
        let keyring: Keyring
        do {
            keyring = try file.load(credential: credential)
        } catch {
            throw FleetError(keyring: error)
        }
        guard keyring.device != nil else {
            throw FleetError(.notDevice, "\(file.path) is not a device keyring; create one with device init")
        }
        return keyring
    }

    /// Verifies, opens and applies a slot: one atomic write of the keyring file, under its lock, so a crash leaves
    /// the old or the new state and a concurrent writer cannot interleave. A slot equal to the applied one changes
    /// nothing.
    ///
    /// - Throws: ``FleetError`` (`slotRejected` with the reason; `keyring` when the file cannot be written). The
    ///   keyring is unchanged whenever it throws.
    public func apply(_ slot: [UInt8]) throws(FleetError) -> Outcome {
        try applyAndAcknowledge(slot).outcome
    }

    /// ``apply(_:)``, and the signed ack of the resulting state, from one read of the keyring (under its lock): the
    /// slot is verified against the locked state, so a concurrent writer cannot slip between check and write.
    public func applyAndAcknowledge(_ slot: [UInt8]) throws(FleetError) -> (outcome: Outcome, ack: [UInt8]) {
        var failure: FleetError?
        var redelivery: (UInt64, [UInt8])?
        var applied: (Outcome, [UInt8])?
        let abort = KeyringError(.alreadyExists, "nothing to write")
        do throws(KeyringError) {
            try file.update(credential: credential) { (keyring: inout Keyring) throws(KeyringError) in
                guard let device = keyring.device, let identity = keyring.deviceIdentity else {
                    failure = FleetError(
                        .notDevice, "\(file.path) is not a device keyring; create one with device init")
                    throw abort
                }
                let verified: KeySlot.Verified
                let ack: [UInt8]
                do throws(FleetError) {
                    verified = try KeySlot.verify(slot, device: device)
                    ack = try FleetReport(kind: .ack, device: device.id, sequence: verified.header.sequence)
                        .encode(signedBy: identity.signingKey)
                } catch {
                    failure = error
                    throw abort
                }
                if verified.isRedelivery {
                    redelivery = (verified.header.sequence, ack)
                    throw abort
                }
                let snapshot = verified.snapshot
                do throws(KeyringError) {
                    try keyring.applyFleetSnapshot(
                        sequence: snapshot.sequence, keys: snapshot.keys, signers: snapshot.signers)
                } catch {
                    failure = FleetError(slot: .malformed, "slot content: \(error.message)")
                    throw abort
                }
                applied = (
                    .applied(sequence: snapshot.sequence, keys: snapshot.keys.count, signers: snapshot.signers.count),
                    ack
                )
            }
        } catch {
            if let redelivery { return (.alreadyApplied(sequence: redelivery.0), redelivery.1) }
            if let failure { throw failure }
            throw FleetError(keyring: error)
        }
        return applied!
    }

    /// A signed report of the device's current sequence.
    public func report(_ kind: FleetReport.Kind) throws(FleetError) -> (device: String, payload: [UInt8]) {
        let keyring = try load()
        guard let device = keyring.device, let identity = keyring.deviceIdentity else {
            throw FleetError(.notDevice, "\(file.path) is not a device keyring")
        }
        let payload = try FleetReport(kind: kind, device: device.id, sequence: device.sequence)
            .encode(signedBy: identity.signingKey)
        return (device.id, payload)
    }
}

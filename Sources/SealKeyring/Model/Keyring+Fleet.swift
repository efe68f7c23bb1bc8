package import Seal

extension Keyring {
    /// The device's own signing identity: the identity named after the device id.
    public var deviceIdentity: KeyringIdentity? {
        guard let device else { return nil }
        return identity(named: device.id)
    }

    /// Turns an empty keyring into a device keyring: the fleet section and the device's signing identity (named
    /// after the device id, signing on every topic its write grants will cover).
    ///
    /// - Throws: ``KeyringError``: `invalidArgument` for a bad id or when the keyring is not empty.
    package mutating func makeDevice(_ device: KeyringDevice, signingKey: SigningKey, now: Int64) throws(KeyringError) {
        try KeyringDevice.validateID(device.id)
        guard keys.isEmpty, signers.isEmpty, identities.isEmpty, self.device == nil else {
            throw KeyringError(.invalidArgument, "a device keyring must start empty")
        }
        var copy = self
        copy.device = device
        copy.identities.append(
            KeyringIdentity(
                sid: signingKey.id, name: device.id, signingKey: signingKey, scope: .all, createdSeconds: now))
        try copy.validate()
        self = copy
    }

    /// Pins another authority public key (32 bytes, Ed25519).
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) when this is not a device keyring or the key is invalid.
    package mutating func pinAuthority(_ publicKey: [UInt8]) throws(KeyringError) {
        guard var device else { throw KeyringError(.invalidArgument, "this keyring is not a device keyring") }
        _ = try KeyringSodium.verifyingKey(sid: 1, publicKey)
        if !device.trusts(authority: publicKey) { device.authorities.append(publicKey) }
        self.device = device
    }

    /// Replaces the keys and the trusted signers with a slot's snapshot and records its sequence: one value change,
    /// written by the caller in one atomic file write. Keys the snapshot no longer lists are dropped (their
    /// secrets are wiped when the last snapshot holding them is released).
    ///
    /// - Throws: ``KeyringError``: `invalidArgument` when this is not a device keyring or the sequence does not
    ///   grow; `corrupt` when the snapshot breaks an invariant (duplicate ids, two primaries on one scope).
    package mutating func applyFleetSnapshot(
        sequence: UInt64, keys newKeys: [KeyringKey], signers newSigners: [KeyringSigner]
    ) throws(KeyringError) {
        guard var device else { throw KeyringError(.invalidArgument, "this keyring is not a device keyring") }
        guard sequence > device.sequence else {
            throw KeyringError(
                .invalidArgument, "slot sequence \(sequence) is not above the applied sequence \(device.sequence)")
        }
        var copy = self
        device.sequence = sequence
        copy.device = device
        copy.keys = newKeys
        copy.signers = newSigners.filter { signer in !identities.contains { $0.sid == signer.sid } }
        try copy.validate()
        self = copy
    }

    func validate(_ device: KeyringDevice) throws(KeyringError) {
        do {
            try KeyringDevice.validateID(device.id)
        } catch {
            throw KeyringError(.corrupt, error.message)
        }
        guard device.recipientPublicKey.count == 32, device.recipientSecret.count == 32 else {
            throw KeyringError(.corrupt, "device \(device.id): the X25519 key must be 32 bytes")
        }
        guard identity(named: device.id) != nil else {
            throw KeyringError(.corrupt, "device \(device.id) has no signing identity of that name")
        }
        for authority in device.authorities {
            guard (try? KeyringSodium.verifyingKey(sid: 1, authority)) != nil else {
                throw KeyringError(.corrupt, "device \(device.id): a pinned authority key is not a valid Ed25519 key")
            }
        }
    }
}

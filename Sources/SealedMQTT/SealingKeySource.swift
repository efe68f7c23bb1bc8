public import Seal
public import SealKeyring

/// Where a ``SealedMQTTClient`` finds keys: the `SealKeySource` lookups for opening, plus sealers for publishing.
///
/// `KeyringWatcher` (hot reload: every call uses the snapshot current at that moment) and `KeyringSnapshot` conform.
/// Other sources (for example an in-memory `KeySet` paired with fixed sealers) can conform by implementing the two
/// sealer requirements; like every `SealKeySource` they must be thread-safe and fast.
public protocol SealingKeySource: SealKeySource {
    /// A sealer for `topic` with its primary key, signing as `signing` asks (encrypt-then-sign with the topic's
    /// signing identity).
    ///
    /// - Throws: `KeyringError`: `noPrimary`, `keyUnusable`, `invalidArgument` (a malformed topic), and for
    ///   ``PublishSigning/always`` the errors of finding a signing identity.
    func sealer(for topic: String, signing: PublishSigning) throws(KeyringError) -> Sealer

    /// A sign-only sealer (payload in clear, Ed25519 signature) with the topic's signing identity.
    ///
    /// - Throws: `KeyringError` (`noPrimary` when no identity signs for the topic).
    func signOnlySealer(for topic: String) throws(KeyringError) -> Sealer

    /// Re-reads the key material now if it may have changed, and returns whether a new version was loaded.
    ///
    /// The sealed client calls this when a message names a key id or signer id that the source does not know (or
    /// not on that topic), then opens the message once more: a publisher that picked up a rotated key a moment
    /// before this process did is not rejected. It must be cheap when nothing changed (a `KeyringWatcher` compares
    /// the file's identity, one `stat`). The client calls it on a thread pool of its own, never on a cooperative
    /// thread, so it may block on file I/O. The default does nothing and returns false.
    @discardableResult
    func refreshKeys() -> Bool
}

extension SealingKeySource {
    /// Does nothing: a fixed key source has nothing to reload.
    @discardableResult
    public func refreshKeys() -> Bool { false }
}

extension KeyringSnapshot: SealingKeySource {
    /// The sealer of ``SealingKeySource/sealer(for:signing:)``: the topic's primary key (cached sealers, so
    /// sequence numbers keep increasing), signed by the topic's identity when `signing` asks for it and the key is an
    /// AEAD key. The choice is remembered per topic for this snapshot, so a publish on a known topic costs one
    /// lookup (and a clock read when the key has a not-after).
    public func sealer(for topic: String, signing: PublishSigning) throws(KeyringError) -> Sealer {
        try publishingSealer(for: topic, kind: signing.sealerKind)
    }

    /// The sign-only sealer of the topic's signing identity (`signingSealer(for:signAs:)`, from SealKeyring).
    public func signOnlySealer(for topic: String) throws(KeyringError) -> Sealer {
        try publishingSealer(for: topic, kind: .signOnly)
    }
}

extension KeyringWatcher: SealingKeySource {
    /// ``KeyringSnapshot/sealer(for:signing:)`` on the snapshot current now (follows hot reloads).
    public func sealer(for topic: String, signing: PublishSigning) throws(KeyringError) -> Sealer {
        try current.publishingSealer(for: topic, kind: signing.sealerKind)
    }

    /// ``KeyringSnapshot/signOnlySealer(for:)`` on the snapshot current now.
    public func signOnlySealer(for topic: String) throws(KeyringError) -> Sealer {
        try current.publishingSealer(for: topic, kind: .signOnly)
    }

    /// Checks the keyring file now (`checkNow()`, from SealKeyring): true when a new version was validated and
    /// swapped in.
    @discardableResult
    public func refreshKeys() -> Bool {
        if case .reloaded = checkNow() { return true }
        return false
    }
}

extension PublishSigning {
    /// The snapshot's publishing sealer that stands for this choice.
    var sealerKind: PublishingSealerKind {
        switch self {
        case .never: .unsigned
        case .always: .signed
        case .whenAvailable: .signedWhenAvailable
        }
    }
}

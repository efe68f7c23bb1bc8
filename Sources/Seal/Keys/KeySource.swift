/// Where an ``Opener`` finds keys: symmetric keys by key id, trusted signers by sender id.
///
/// Lookups get the concrete topic, so a source can act as an access-control list (a key or a signer
/// only valid on some topics) by returning nil. A keyring that reloads its file implements this
/// protocol and swaps its contents internally; the ``Opener`` asks on every message.
/// Implementations must be fast and thread-safe: they are called concurrently on the receive path.
public protocol SealKeySource: Sendable {
    /// The symmetric key with id `id` that may open messages on `topic`, or nil.
    func key(id: UInt32, topic: String) -> SealKey?
    /// The trusted signer with id `id` whose signatures are accepted on `topic`, or nil.
    func signer(id: UInt32, topic: String) -> VerifyingKey?
}

/// An immutable in-memory set of keys and trusted signers, valid on every topic.
public struct KeySet: SealKeySource {
    private let keys: [UInt32: SealKey]
    private let signers: [UInt32: VerifyingKey]

    /// Creates a set. When two keys (or two signers) share an id, the last one wins.
    public init(keys: [SealKey] = [], signers: [VerifyingKey] = []) {
        var keysByID: [UInt32: SealKey] = [:]
        for key in keys { keysByID[key.id] = key }
        var signersByID: [UInt32: VerifyingKey] = [:]
        for signer in signers { signersByID[signer.id] = signer }
        self.keys = keysByID
        self.signers = signersByID
    }

    /// The key with id `id`, on any topic.
    public func key(id: UInt32, topic: String) -> SealKey? { keys[id] }

    /// The signer with id `id`, on any topic.
    public func signer(id: UInt32, topic: String) -> VerifyingKey? { signers[id] }
}

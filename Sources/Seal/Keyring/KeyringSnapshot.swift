#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An immutable, validated keyring prepared for the message path: lookup by kid / sid in O(1), primary selection
/// by topic, and the topic ACL of every key and signer.
///
/// Safe to share between threads. A ``KeyringWatcher`` swaps whole snapshots, so a message is always handled by
/// one consistent keyring version.
public final class KeyringSnapshot: Sendable {
    /// The keyring this snapshot was built from.
    public let keyring: Keyring

    private let keysByID: [UInt32: KeyringKey]
    private let signersByID: [UInt32: KeyringSigner]
    private let primaries: [KeyringKey]

    /// Builds a snapshot (the keyring must satisfy its invariants, as every loaded or mutated keyring does).
    public init(_ keyring: Keyring) {
        self.keyring = keyring
        var keys: [UInt32: KeyringKey] = [:]
        for key in keyring.keys { keys[key.kid] = key }
        keysByID = keys
        var signers: [UInt32: KeyringSigner] = [:]
        for signer in keyring.signers { signers[signer.sid] = signer }
        signersByID = signers
        primaries = keyring.keys.filter { $0.state == .primary }
    }

    /// The keyring generation (bumped by every write).
    public var generation: UInt64 { keyring.generation }

    /// The key that seals on `topic`: among the primaries whose scope matches the topic, the one with the most
    /// specific matching filter (see Specs/keyring.md, "Primary selection").
    ///
    /// - Throws: ``KeyringError``: `invalidArgument` for a malformed topic, `noPrimary` when no primary matches,
    ///   `keyUnusable` when the selected primary has passed its not-after.
    public func primaryKey(for topic: String, now: Date = Date()) throws(KeyringError) -> KeyringKey {
        try TopicFilter.validateTopic(topic)
        var best: (key: KeyringKey, filter: TopicFilter)?
        for key in primaries {
            guard let filter = key.scope.bestMatch(topic) else { continue }
            if let current = best, !Self.beats(filter, key.scope, current.filter, current.key.scope) { continue }
            best = (key, filter)
        }
        guard let selected = best?.key else {
            throw KeyringError(.noPrimary, "no primary key's topic filter matches topic \(TopicFilter.quoted(topic))")
        }
        if selected.isExpired(at: now) {
            throw KeyringError(
                .keyUnusable,
                "primary key \(KeyringID.format(selected.kid)) for topic \(TopicFilter.quoted(topic)) has expired; "
                    + "rotate it")
        }
        return selected
    }

    /// Tie-break: more specific filter; for the same filter the smaller scope, then the scope text.
    private static func beats(
        _ filter: TopicFilter, _ scope: TopicScope, _ other: TopicFilter, _ otherScope: TopicScope
    )
        -> Bool
    {
        if filter != other { return filter.isMoreSpecific(than: other) }
        if scope.filters.count != otherScope.filters.count { return scope.filters.count < otherScope.filters.count }
        return scope.description.utf8.lexicographicallyPrecedes(otherScope.description.utf8)
    }

    /// The key with `kid` if it may open a message on `topic`: its state opens (pending, primary, decrypt-only)
    /// and its scope matches the topic.
    ///
    /// - Throws: ``KeyringError``: `unknownKey`, `keyUnusable` (disabled or destroyed), `topicNotAllowed`.
    public func openingKey(kid: UInt32, topic: String) throws(KeyringError) -> KeyringKey {
        guard let key = keysByID[kid] else {
            throw KeyringError(.unknownKey, "no key with kid \(KeyringID.format(kid))")
        }
        guard key.state.opens else {
            throw KeyringError(.keyUnusable, "key \(KeyringID.format(kid)) is \(key.state) and opens nothing")
        }
        guard key.scope.matches(topic) else {
            throw KeyringError(
                .topicNotAllowed, "key \(KeyringID.format(kid)) is not allowed on topic \(TopicFilter.quoted(topic))")
        }
        return key
    }

    /// The trusted signer with `sid` if its signatures are accepted on `topic`: active and in scope.
    ///
    /// - Throws: ``KeyringError``: `unknownKey`, `keyUnusable` (disabled or revoked), `topicNotAllowed`.
    public func trustedSigner(sid: UInt32, topic: String) throws(KeyringError) -> KeyringSigner {
        guard let signer = signersByID[sid] else {
            throw KeyringError(.unknownKey, "no signer with sid \(KeyringID.format(sid))")
        }
        guard signer.state == .active else {
            throw KeyringError(.keyUnusable, "signer \(KeyringID.format(sid)) is \(signer.state)")
        }
        guard signer.scope.matches(topic) else {
            throw KeyringError(
                .topicNotAllowed,
                "signer \(KeyringID.format(sid)) is not trusted on topic \(TopicFilter.quoted(topic))")
        }
        return signer
    }

    /// The own signing identity for `topic`: the one with the most specific matching filter, or the one with
    /// `sid` when given (which must then match the topic).
    ///
    /// - Throws: ``KeyringError``: `unknownKey`, `topicNotAllowed`, `noPrimary` when no identity matches.
    public func signingIdentity(for topic: String, sid: UInt32? = nil) throws(KeyringError) -> KeyringIdentity {
        try TopicFilter.validateTopic(topic)
        if let sid {
            guard let identity = keyring.identity(sid) else {
                throw KeyringError(.unknownKey, "no signing identity with sid \(KeyringID.format(sid))")
            }
            guard identity.scope.matches(topic) else {
                throw KeyringError(
                    .topicNotAllowed,
                    "identity \(KeyringID.format(sid)) does not sign for topic \(TopicFilter.quoted(topic))")
            }
            return identity
        }
        var best: (identity: KeyringIdentity, filter: TopicFilter)?
        for identity in keyring.identities {
            guard let filter = identity.scope.bestMatch(topic) else { continue }
            if let current = best, !Self.beats(filter, identity.scope, current.filter, current.identity.scope) {
                continue
            }
            best = (identity, filter)
        }
        guard let selected = best?.identity else {
            throw KeyringError(.noPrimary, "no signing identity's topic filter matches \(TopicFilter.quoted(topic))")
        }
        return selected
    }
}

public import Seal
import Synchronization
import TopicFilters

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
public final class KeyringSnapshot: SealKeySource, Sendable {
    /// The keyring this snapshot was built from.
    public let keyring: Keyring

    private let keysByID: [UInt32: KeyringKey]
    private let signersByID: [UInt32: KeyringSigner]
    private let primaries: [KeyringKey]
    let sealers: KeyringSealerCache
    /// The primary chosen per topic (compared as UTF-8 bytes), so that publishing on a known topic does not scan
    /// every primary again. Cleared when full: memory stays bounded for any number of topics.
    static let selectionCapacity = 4_096
    private let selections = BoundedMemory<TopicBytes, UInt32>(capacity: selectionCapacity)
    /// Every filter of every primary, tagged with the primary's index in `primaries`: a topic's candidates in time
    /// proportional to its levels, not to the number of primaries. Built on the first selection (a snapshot that
    /// only opens, or a reload, does not pay for it).
    private let primaryFilters = Mutex<TopicFilterSet?>(nil)
    /// The publishing sealer chosen per topic (``publishingSealer(for:kind:)``).
    let publishing = PublishingSealers()

    /// Builds a snapshot (the keyring must satisfy its invariants, as every loaded or mutated keyring does).
    public convenience init(_ keyring: Keyring) {
        self.init(keyring, sealers: KeyringSealerCache())
    }

    /// A snapshot that reuses the sealers of a previous one (sequence numbers stay strictly increasing per key
    /// across reloads); sealers of keys that no longer seal are dropped.
    init(_ keyring: Keyring, sealers: KeyringSealerCache) {
        self.keyring = keyring
        self.sealers = sealers
        sealers.retain(
            kids: Set(keyring.keys.filter { $0.state == .primary }.map(\.kid)), sids: Set(keyring.identities.map(\.sid))
        )
        var keys: [UInt32: KeyringKey] = [:]
        for key in keyring.keys { keys[key.kid] = key }
        keysByID = keys
        var signers: [UInt32: KeyringSigner] = [:]
        for signer in keyring.signers { signers[signer.sid] = signer }
        // The keyring's own signing identities verify too (on their scopes): a keyring shared by a group of
        // hosts opens what any of them signed, without importing its own verifiers.
        for identity in keyring.identities where signers[identity.sid] == nil {
            signers[identity.sid] = KeyringSigner(
                sid: identity.sid, verifyingKey: identity.signingKey.verifyingKey, scope: identity.scope,
                name: identity.name, state: .active)
        }
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
        let selected = try selectPrimary(for: topic)
        if selected.isExpired(at: now) {
            throw KeyringError(
                .keyUnusable,
                "primary key \(KeyringID.format(selected.kid)) for topic \(TopicFilter.quoted(topic)) has expired; "
                    + "rotate it")
        }
        return selected
    }

    /// The primary with the most specific filter matching `topic`, remembered per topic (the choice does not depend
    /// on the time; expiry is checked by the caller on every call).
    private func selectPrimary(for topic: String) throws(KeyringError) -> KeyringKey {
        let bytes = TopicBytes(topic)
        if let kid = selections.value(for: bytes), let key = keysByID[kid] { return key }
        try TopicFilter.validateTopic(topic)
        let candidates = primaryFilterSet()
        var best: (key: KeyringKey, filter: TopicFilter, index: Int)?
        var name = topic
        name.withUTF8 { utf8 in
            candidates.forEachMatch(utf8: utf8) { index in
                // A key with several matching filters is reported once per filter; its best one decides.
                if let current = best, current.index == index { return }
                let key = primaries[index]
                guard let filter = key.scope.bestMatch(topic) else { return }
                if let current = best {
                    // The same choice as a scan of `primaries` in order: ties go to the earlier key.
                    let wins =
                        Self.beats(filter, key.scope, current.filter, current.key.scope)
                        || (!Self.beats(current.filter, current.key.scope, filter, key.scope) && index < current.index)
                    guard wins else { return }
                }
                best = (key, filter, index)
            }
        }
        guard let selected = best?.key else {
            throw KeyringError(.noPrimary, "no primary key's topic filter matches topic \(TopicFilter.quoted(topic))")
        }
        selections.remember(selected.kid, for: bytes)
        return selected
    }

    /// The primaries' filters, tagged with their index (built once per snapshot).
    private func primaryFilterSet() -> TopicFilterSet {
        primaryFilters.withLock { built in
            if let built { return built }
            var set = TopicFilterSet()
            for (index, key) in primaries.enumerated() {
                for filter in key.scope.filters { set.insert(filter.pattern, tag: index) }
            }
            built = set
            return set
        }
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

    /// The own signing identity called `name`, which must sign for `topic`.
    ///
    /// - Throws: ``KeyringError``: `unknownKey` when no identity has the name (the message lists the names),
    ///   `topicNotAllowed` when its scope does not match the topic.
    public func signingIdentity(named name: String, for topic: String) throws(KeyringError) -> KeyringIdentity {
        try TopicFilter.validateTopic(topic)
        guard let identity = keyring.identity(named: name) else {
            let names = keyring.identities.map(\.name)
            throw KeyringError(
                .unknownKey,
                "no signing identity named \(name); "
                    + (names.isEmpty
                        ? "the keyring has none (keys new-signer NAME)" : "known: " + names.joined(separator: ", ")))
        }
        guard identity.scope.matches(topic) else {
            throw KeyringError(
                .topicNotAllowed, "identity \(name) does not sign for topic \(TopicFilter.quoted(topic))")
        }
        return identity
    }

    // MARK: Sealers

    /// A sealer for `topic`: the primary key selected by ``primaryKey(for:now:)``, signing with the topic's own
    /// identity (``signingIdentity(for:sid:)``) when `sign` is set (encrypt-then-sign; AEAD keys only).
    ///
    /// Sealers are cached per key (and identity) and survive hot reloads, so sequence numbers keep increasing.
    /// - Throws: ``KeyringError``: the errors of ``primaryKey(for:now:)`` and ``signingIdentity(for:sid:)``;
    ///   `invalidArgument` when an HMAC key is combined with signing.
    /// - Parameters:
    ///   - topic: the concrete PUBLISH topic.
    ///   - sign: sign with the topic's own identity.
    ///   - signAs: sign with the identity of this name instead (implies `sign`).
    ///   - now: the current time (for `notAfter`).
    public func sealer(
        for topic: String, sign: Bool = false, signAs: String? = nil, now: Date = Date()
    ) throws(KeyringError) -> Sealer {
        let key = try primaryKey(for: topic, now: now)
        guard let material = key.sealKey else {
            throw KeyringError(.keyUnusable, "primary key \(KeyringID.format(key.kid)) has no secret")
        }
        let identity = try identity(for: topic, sign: sign, signAs: signAs)
        return try sealers.sealer(kid: key.kid, sid: identity?.sid ?? 0) { () throws(KeyringError) -> Sealer in
            do {
                return try Sealer(key: material, signingKey: identity?.signingKey)
            } catch {
                throw KeyringError(.invalidArgument, "cannot seal with key \(KeyringID.format(key.kid)): \(error)")
            }
        }
    }

    /// A sign-only sealer (payload in clear, Ed25519 signature) with the topic's own identity.
    ///
    /// - Throws: ``KeyringError``: the errors of ``signingIdentity(for:sid:)``.
    public func signingSealer(for topic: String, signAs: String? = nil) throws(KeyringError) -> Sealer {
        guard let identity = try identity(for: topic, sign: true, signAs: signAs) else {
            throw KeyringError(.noPrimary, "no signing identity for \(TopicFilter.quoted(topic))")
        }
        return try sealers.sealer(kid: 0, sid: identity.sid) { () throws(KeyringError) -> Sealer in
            do {
                return try Sealer(signingKey: identity.signingKey)
            } catch {
                throw KeyringError(.invalidArgument, "cannot sign with \(KeyringID.format(identity.sid)): \(error)")
            }
        }
    }

    /// The sealer a publisher uses on `topic`, remembered per topic for this snapshot: the first publish on a
    /// topic selects as ``sealer(for:sign:signAs:now:)`` (or ``signingSealer(for:signAs:)``) does, later ones are one
    /// lookup and, when the key has a not-after, one clock read.
    ///
    /// - Throws: ``KeyringError``: the errors of the selection it stands for.
    package func publishingSealer(for topic: String, kind: PublishingSealerKind) throws(KeyringError) -> Sealer {
        if let remembered = publishing.sealer(for: topic, kind: kind) { return remembered }
        let sealer: Sealer
        switch kind {
        case .unsigned: sealer = try self.sealer(for: topic, sign: false)
        case .signed: sealer = try self.sealer(for: topic, sign: true)
        case .signOnly: sealer = try signingSealer(for: topic)
        case .signedWhenAvailable:
            let key = try primaryKey(for: topic)
            let sign = key.suite != .hmacSHA256 && (try? signingIdentity(for: topic)) != nil
            sealer = try self.sealer(for: topic, sign: sign)
        }
        let notAfter = sealer.mode == .sign ? nil : keysByID[sealer.keyID]?.notAfterSeconds
        publishing.remember(sealer, notAfterSeconds: notAfter, for: topic, kind: kind)
        return sealer
    }

    private func identity(for topic: String, sign: Bool, signAs: String?) throws(KeyringError) -> KeyringIdentity? {
        if let signAs { return try signingIdentity(named: signAs, for: topic) }
        return sign ? try signingIdentity(for: topic) : nil
    }

    // MARK: SealKeySource (the Opener's view: no error strings on the message path)

    /// The key with id `id` when its state opens (pending, primary, decrypt-only) and its scope matches `topic`.
    public func key(id: UInt32, topic: String) -> SealKey? {
        guard let key = keysByID[id], key.state.opens, key.scope.matches(topic) else { return nil }
        return key.sealKey
    }

    /// The active trusted signer with id `id` whose scope matches `topic`.
    public func signer(id: UInt32, topic: String) -> VerifyingKey? {
        guard let signer = signersByID[id], signer.state == .active, signer.scope.matches(topic) else { return nil }
        return signer.verifyingKey
    }
}

/// Sealers per (kid, sid), shared by successive snapshots of one watcher.
final class KeyringSealerCache: Sendable {
    private struct Slot: Hashable {
        var kid: UInt32
        var sid: UInt32
    }

    private let sealers = Mutex<[Slot: Sealer]>([:])

    init() {}

    func sealer(
        kid: UInt32, sid: UInt32, make: () throws(KeyringError) -> Sealer
    ) throws(KeyringError) -> Sealer {
        let slot = Slot(kid: kid, sid: sid)
        if let existing = sealers.withLock({ $0[slot] }) { return existing }
        let made = try make()
        return sealers.withLock { cache in
            if let existing = cache[slot] { return existing }
            cache[slot] = made
            return made
        }
    }

    /// Drops sealers whose key no longer seals or whose identity is gone (their secrets are released).
    func retain(kids: Set<UInt32>, sids: Set<UInt32>) {
        sealers.withLock { cache in
            cache = cache.filter { slot, _ in
                (slot.kid == 0 || kids.contains(slot.kid)) && (slot.sid == 0 || sids.contains(slot.sid))
            }
        }
    }
}

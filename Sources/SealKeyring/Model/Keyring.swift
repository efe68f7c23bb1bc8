public import Seal

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A symmetric key in a keyring: metadata (readable in the file) and the secret (encrypted at rest, held in wiped
/// storage in memory; erased when the key is destroyed).
public struct KeyringKey: Sendable {
    /// The key id carried in every envelope; random, unique in the keyring, never reused.
    public let kid: UInt32
    /// The suite, fixed at creation: `xchacha20poly1305`, `aes256gcm` or `hmac-sha256`.
    public let suite: Suite
    /// The lifecycle state.
    public internal(set) var state: KeyState
    /// Creation time (UTC, whole seconds).
    public var created: Date { Date(timeIntervalSince1970: TimeInterval(createdSeconds)) }
    /// After this instant the key no longer seals (it still opens while its state allows). `nil`: no limit.
    public var notAfter: Date? { notAfterSeconds.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
    /// The topic scope: where the key may seal and open.
    public let scope: TopicScope

    /// The key material with its per-key crypto state, for building a `Sealer` (Seal); nil once destroyed.
    public internal(set) var sealKey: SealKey?

    package let createdSeconds: Int64
    package let notAfterSeconds: Int64?

    /// A key read from a file or carried by a fleet key slot.
    package init(
        kid: UInt32, suite: Suite, state: KeyState, scope: TopicScope, sealKey: SealKey?, createdSeconds: Int64,
        notAfterSeconds: Int64?
    ) {
        self.kid = kid
        self.suite = suite
        self.state = state
        self.scope = scope
        self.sealKey = sealKey
        self.createdSeconds = createdSeconds
        self.notAfterSeconds = notAfterSeconds
    }

    /// Whether the key has passed its `notAfter` at `date`.
    public func isExpired(at date: Date) -> Bool {
        guard let notAfterSeconds else { return false }
        return KeyringTime.seconds(date) >= notAfterSeconds
    }
}

/// A trusted signer: a peer's Ed25519 verifying key, trusted only on its topic scope.
public struct KeyringSigner: Sendable, Hashable {
    /// The signer id carried in signed envelopes.
    public let sid: UInt32
    /// The validated Ed25519 verifying key (its id is the sid).
    public let verifyingKey: VerifyingKey
    /// The topics on which this signer's signatures are accepted.
    public let scope: TopicScope
    /// The name the signer's owner gave its identity (``KeyringIdentity/name``), if the verifier carried one.
    /// Informational: trust decisions use the sid, never the name.
    public let name: String?
    /// The signer's state.
    public internal(set) var state: SignerState

    /// The 32-byte Ed25519 public key.
    public var publicKey: [UInt8] { verifyingKey.rawRepresentation }

    /// A signer to import: validates the public key (`crypto_core_ed25519_is_valid_point`).
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) for a sid of 0, an invalid public key or an invalid name
    ///   (see ``KeyringIdentity/validateName(_:)``).
    public init(sid: UInt32, publicKey: [UInt8], scope: TopicScope = .all, name: String? = nil) throws(KeyringError) {
        guard sid != 0 else { throw KeyringError(.invalidArgument, "sid 00000000 is reserved") }
        if let name { try KeyringIdentity.validateName(name) }
        self.init(
            sid: sid, verifyingKey: try KeyringSodium.verifyingKey(sid: sid, publicKey), scope: scope, name: name,
            state: .active)
    }

    /// A signer from a key validated already (no second validation).
    package init(
        sid: UInt32, verifyingKey: VerifyingKey, scope: TopicScope, name: String?, state: SignerState = .active
    ) {
        self.sid = sid
        self.verifyingKey = verifyingKey
        self.scope = scope
        self.name = name
        self.state = state
    }
}

/// One of the process's own signing identities: an Ed25519 key pair whose public half other keyrings import as a
/// ``KeyringSigner``.
public struct KeyringIdentity: Sendable {
    /// The signer id this identity writes into signed envelopes.
    public let sid: UInt32
    /// The identity's name, unique among the keyring's identities (`mqtt-seal keys new-signer NAME`,
    /// `mqtt-seal seal --sign-as NAME`).
    public let name: String
    /// The signing key (seed in wiped storage); its id is the sid.
    public let signingKey: SigningKey
    /// The topics this identity signs for (exported with the verifier).
    public let scope: TopicScope
    /// Creation time (UTC, whole seconds).
    public var created: Date { Date(timeIntervalSince1970: TimeInterval(createdSeconds)) }
    /// The 32-byte Ed25519 public key.
    public var publicKey: [UInt8] { signingKey.verifyingKey.rawRepresentation }

    package let createdSeconds: Int64

    /// The longest name, in UTF-8 bytes.
    public static let maximumNameLength = 64

    /// Checks an identity (or signer) name: 1 to 64 characters from `A-Z a-z 0-9 . _ - @`, not starting with `-`.
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) naming what is wrong.
    public static func validateName(_ name: String) throws(KeyringError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumNameLength else {
            throw KeyringError(
                .invalidArgument, "name must be 1 to \(maximumNameLength) characters, got \(bytes.count)")
        }
        let allowed = { (byte: UInt8) -> Bool in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
                UInt8(ascii: "@"):
                return true
            default:
                return false
            }
        }
        guard bytes.allSatisfy(allowed), bytes[0] != UInt8(ascii: "-") else {
            throw KeyringError(
                .invalidArgument,
                "name \(TopicFilter.quoted(name)) may only use A-Z a-z 0-9 . _ - @ and must not start with -")
        }
    }
}

/// The in-memory keyring: keys with their lifecycle, trusted signers and own signing identities.
///
/// A value type: mutate a copy, then write it with ``KeyringFile/update(credential:_:)``. Every mutating method
/// checks the lifecycle rules and the invariants (unique ids, at most one primary per topic scope) and leaves the
/// value unchanged when it throws.
public struct Keyring: Sendable {
    /// The symmetric keys, including destroyed tombstones, in creation order.
    public internal(set) var keys: [KeyringKey]
    /// The trusted signers (peers' verifying keys), including revoked tombstones.
    public internal(set) var signers: [KeyringSigner]
    /// The process's own signing identities.
    public internal(set) var identities: [KeyringIdentity]
    /// Bumped by every write; lets a reloader tell versions apart.
    public internal(set) var generation: UInt64
    /// The fleet section of a device keyring (`mqtt-seal device init`); nil for every other keyring.
    public internal(set) var device: KeyringDevice?

    /// An empty keyring.
    public init() {
        keys = []
        signers = []
        identities = []
        generation = 0
        device = nil
    }

    /// A keyring of `keys` built in one step, for tools and benchmarks that need many keys: the invariants are
    /// checked once over the whole list (linear), where adding keys one by one checks them per key.
    ///
    /// - Throws: ``KeyringError/Code/corrupt`` when an id repeats, is reserved, a key lacks its secret, or a scope
    ///   has two primaries.
    package init(keys: [KeyringKey]) throws(KeyringError) {
        self.init()
        self.keys = keys
        try validate()
    }

    /// The key with this kid, if any (tombstones included).
    public func key(_ kid: UInt32) -> KeyringKey? { keys.first { $0.kid == kid } }

    /// The signer with this sid, if any.
    public func signer(_ sid: UInt32) -> KeyringSigner? { signers.first { $0.sid == sid } }

    /// The own identity with this sid, if any.
    public func identity(_ sid: UInt32) -> KeyringIdentity? { identities.first { $0.sid == sid } }

    /// The own identity with this name, if any.
    public func identity(named name: String) -> KeyringIdentity? { identities.first { $0.name == name } }

    /// The primary key of a scope, if the scope has one.
    public func primary(of scope: TopicScope) -> KeyringKey? {
        keys.first { $0.state == .primary && $0.scope == scope }
    }

    /// Scopes that have usable keys (pending or decrypt-only) but no primary: nothing seals on them.
    public var scopesWithoutPrimary: [TopicScope] {
        var seen: [TopicScope] = []
        for key in keys where key.state == .pending || key.state == .decryptOnly {
            if primary(of: key.scope) == nil && !seen.contains(key.scope) { seen.append(key.scope) }
        }
        return seen
    }

    // MARK: Keys

    /// Adds a new key in state `pending` with a fresh random kid and secret, and returns the kid.
    ///
    /// - Parameters:
    ///   - suite: a symmetric suite (`xchacha20poly1305`, `aes256gcm`, `hmac-sha256`).
    ///   - scope: the topic filters the key is restricted to (default: every topic).
    ///   - notAfter: the instant after which the key no longer seals; must be in the future.
    ///   - now: the current time (creation time of the key).
    /// - Throws: ``KeyringError`` (``KeyringError/Code-swift.struct/invalidArgument``) for `ed25519` or a past
    ///   `notAfter`.
    @discardableResult
    public mutating func addKey(
        suite: Suite = .xchacha20poly1305, scope: TopicScope = .all, notAfter: Date? = nil, now: Date = Date()
    ) throws(KeyringError) -> UInt32 {
        guard Self.symmetricSuites.contains(suite) else {
            throw KeyringError(
                .invalidArgument,
                "suite \(suite.rawValue) is not a symmetric key suite; use one of: "
                    + Self.symmetricSuites.map(\.rawValue).joined(separator: ", ")
                    + " (Ed25519 keys are signing identities: new-signer)")
        }
        let nowSeconds = KeyringTime.seconds(now)
        let limit = notAfter.map(KeyringTime.seconds)
        if let limit, limit <= nowSeconds {
            throw KeyringError(.invalidArgument, "not-after \(KeyringTime.format(seconds: limit)) is not in the future")
        }
        let kid = freshID(excluding: Set(keys.map(\.kid)))
        let material: SealKey
        do {
            material = try SealKey(id: kid, suite: suite, secret: SecureBytes(randomCount: SealKey.byteCount))
        } catch {
            throw KeyringError(.invalidArgument, "cannot create a \(suite) key: \(error)")
        }
        keys.append(
            KeyringKey(
                kid: kid, suite: suite, state: .pending, scope: scope, sealKey: material, createdSeconds: nowSeconds,
                notAfterSeconds: limit))
        return kid
    }

    /// Makes a pending (or decrypt-only) key the primary of its scope. The scope's previous primary, if any, becomes
    /// decrypt-only in the same step, so the scope never has two primaries. Returns the kid of the demoted key.
    ///
    /// - Throws: ``KeyringError``: `unknownKey`; `invalidTransition` naming the valid moves; `keyUnusable` when the
    ///   key has expired.
    @discardableResult
    public mutating func promote(_ kid: UInt32, now: Date = Date()) throws(KeyringError) -> UInt32? {
        let index = try keyIndex(kid)
        try checkTransition(index, to: .primary, verb: "promote")
        if keys[index].isExpired(at: now) {
            throw KeyringError(
                .keyUnusable, "cannot promote key \(KeyringID.format(kid)): it expired (not-after passed)")
        }
        var demoted: UInt32?
        if let old = keys.firstIndex(where: { $0.state == .primary && $0.scope == keys[index].scope }) {
            keys[old].state = .decryptOnly
            demoted = keys[old].kid
        }
        keys[index].state = .primary
        return demoted
    }

    /// Retires a primary to decrypt-only. Its scope has no primary afterwards (sealing there fails with
    /// `noPrimary`) until a key is promoted; to rotate, promote the successor instead (that retires this one).
    public mutating func retire(_ kid: UInt32) throws(KeyringError) {
        try move(kid, to: .decryptOnly, from: [.primary], verb: "retire")
    }

    /// Disables a pending or decrypt-only key: it no longer opens anything.
    public mutating func disable(_ kid: UInt32) throws(KeyringError) {
        try move(kid, to: .disabled, from: [.pending, .decryptOnly], verb: "disable")
    }

    /// Re-enables a disabled key as decrypt-only.
    public mutating func enable(_ kid: UInt32) throws(KeyringError) {
        try move(kid, to: .decryptOnly, from: [.disabled], verb: "enable")
    }

    /// Destroys a disabled key: the secret is erased and the entry stays as a tombstone so the kid is never reused.
    public mutating func destroy(_ kid: UInt32) throws(KeyringError) {
        try move(kid, to: .destroyed, from: [.disabled], verb: "destroy")
        let index = try keyIndex(kid)
        keys[index].sealKey = nil
    }

    /// Rotation in one step: adds a key with the same suite (unless given) and scope as the scope's current primary
    /// and promotes it; the old primary becomes decrypt-only. A scope without a primary gets its first one (of
    /// `suite`, by default `Suite.xchacha20poly1305`), as `keys init` then `keys rotate` expects. Returns the new
    /// kid.
    ///
    /// Use this only where every receiver can reload the keyring before the first message sealed with the new key
    /// arrives; otherwise add, distribute and promote separately.
    /// - Throws: ``KeyringError`` (`invalidArgument` for a suite that is not symmetric or a date in the past).
    @discardableResult
    public mutating func rotate(
        scope: TopicScope = .all, suite: Suite? = nil, notAfter: Date? = nil, now: Date = Date()
    ) throws(KeyringError) -> UInt32 {
        let chosen = suite ?? primary(of: scope)?.suite ?? .xchacha20poly1305
        var copy = self
        let kid = try copy.addKey(suite: chosen, scope: scope, notAfter: notAfter, now: now)
        try copy.promote(kid, now: now)
        self = copy
        return kid
    }

    /// Moves a key to any state the lifecycle allows from its current one (the generic form of promote, retire,
    /// disable, enable and destroy).
    public mutating func transition(_ kid: UInt32, to state: KeyState, now: Date = Date()) throws(KeyringError) {
        switch state {
        case .primary: try promote(kid, now: now)
        case .destroyed: try destroy(kid)
        default:
            let index = try keyIndex(kid)
            try checkTransition(index, to: state, verb: "move")
            keys[index].state = state
        }
    }

    // MARK: Signers and identities

    /// Creates a new own signing identity (a fresh Ed25519 key pair) and returns its sid.
    ///
    /// - Parameters:
    ///   - name: the identity's name, unique among the identities (default: `identity-<sid>`).
    ///   - scope: the topics the identity signs for.
    ///   - now: its creation time.
    /// - Throws: ``KeyringError``: `invalidArgument` for an invalid name, `alreadyExists` for a name in use,
    ///   `io` only if libsodium fails to derive the key pair.
    @discardableResult
    public mutating func newSigningIdentity(
        name: String? = nil, scope: TopicScope = .all, now: Date = Date()
    ) throws(KeyringError)
        -> UInt32
    {
        if let name {
            try KeyringIdentity.validateName(name)
            guard identity(named: name) == nil else {
                throw KeyringError(.alreadyExists, "a signing identity named \(name) already exists")
            }
        }
        let sid = freshID(excluding: usedSignerIDs)
        let key: SigningKey
        do {
            key = try SigningKey(id: sid, seed: SecureBytes(randomCount: SigningKey.seedByteCount))
        } catch {
            throw KeyringError(.io, "cannot create an Ed25519 key pair: \(error)")
        }
        identities.append(
            KeyringIdentity(
                sid: sid, name: name ?? "identity-\(KeyringID.format(sid))", signingKey: key, scope: scope,
                createdSeconds: KeyringTime.seconds(now)))
        return sid
    }

    /// The verifiers of the own identities, to be imported by peers with ``importSigner(_:)``.
    public func exportVerifiers() -> [KeyringSigner] {
        identities.map {
            KeyringSigner(
                sid: $0.sid, verifyingKey: $0.signingKey.verifyingKey, scope: $0.scope, name: $0.name, state: .active)
        }
    }

    /// Imports a peer's verifier as an active trusted signer.
    ///
    /// - Throws: ``KeyringError``: `invalidArgument` when the public key is not a valid Ed25519 point, or the sid
    ///   is 0 or already used (by a signer, a tombstone or an own identity).
    public mutating func importSigner(_ signer: KeyringSigner) throws(KeyringError) {
        guard signer.sid != 0 else { throw KeyringError(.invalidArgument, "sid 00000000 is reserved") }
        guard !usedSignerIDs.contains(signer.sid) else {
            throw KeyringError(
                .invalidArgument, "sid \(KeyringID.format(signer.sid)) is already used in this keyring")
        }
        guard signer.verifyingKey.id == signer.sid else {
            throw KeyringError(
                .invalidArgument, "signer \(KeyringID.format(signer.sid)): key id does not match the sid")
        }
        signers.append(
            KeyringSigner(
                sid: signer.sid, verifyingKey: signer.verifyingKey, scope: signer.scope, name: signer.name,
                state: .active))
    }

    /// Moves a trusted signer to another state (`active` <-> `disabled`, either -> `revoked`).
    public mutating func setSignerState(_ sid: UInt32, to state: SignerState) throws(KeyringError) {
        guard let index = signers.firstIndex(where: { $0.sid == sid }) else {
            throw KeyringError(.unknownKey, "no signer with sid \(KeyringID.format(sid)) in the keyring")
        }
        let current = signers[index].state
        guard current.canTransition(to: state) else {
            throw KeyringError(
                .invalidTransition,
                "signer \(KeyringID.format(sid)) is \(current) and cannot become \(state); valid: "
                    + Self.list(current.allowedTransitions.map(\.rawValue)))
        }
        signers[index].state = state
    }

    // MARK: Invariants

    static let symmetricSuites: [Suite] = [.xchacha20poly1305, .aes256gcm, .hmacSHA256]

    /// Checks every invariant of a keyring read from a file.
    func validate() throws(KeyringError) {
        var kids = Set<UInt32>()
        var primaries = Set<TopicScope>()
        for key in keys {
            let name = KeyringID.format(key.kid)
            guard key.kid != 0 else { throw KeyringError(.corrupt, "key id 00000000 is reserved") }
            guard kids.insert(key.kid).inserted else { throw KeyringError(.corrupt, "key \(name) appears twice") }
            guard Self.symmetricSuites.contains(key.suite) else {
                throw KeyringError(.corrupt, "key \(name) has non-symmetric suite \(key.suite.rawValue)")
            }
            if key.state == .destroyed {
                guard key.sealKey == nil else {
                    throw KeyringError(.corrupt, "destroyed key \(name) still has a secret")
                }
            } else {
                guard let material = key.sealKey, material.id == key.kid, material.suite == key.suite else {
                    throw KeyringError(.corrupt, "key \(name) has no secret, or one of another id or suite")
                }
            }
            if key.state == .primary {
                guard primaries.insert(key.scope).inserted else {
                    throw KeyringError(.corrupt, "scope \(key.scope) has more than one primary key")
                }
            }
        }
        var sids = Set<UInt32>()
        for signer in signers {
            guard signer.sid != 0, sids.insert(signer.sid).inserted else {
                throw KeyringError(.corrupt, "signer id \(KeyringID.format(signer.sid)) is reserved or duplicated")
            }
            guard signer.verifyingKey.id == signer.sid else {
                throw KeyringError(.corrupt, "signer \(KeyringID.format(signer.sid)): key id does not match")
            }
        }
        var names = Set<String>()
        for identity in identities {
            guard names.insert(identity.name).inserted else {
                throw KeyringError(.corrupt, "identity name \(identity.name) appears twice")
            }
            guard identity.sid != 0, sids.insert(identity.sid).inserted else {
                throw KeyringError(.corrupt, "identity id \(KeyringID.format(identity.sid)) is reserved or duplicated")
            }
            guard identity.signingKey.id == identity.sid else {
                throw KeyringError(.corrupt, "identity \(KeyringID.format(identity.sid)): key id does not match")
            }
        }
        if let device { try validate(device) }
    }

    // MARK: Helpers

    private var usedSignerIDs: Set<UInt32> { Set(signers.map(\.sid)).union(identities.map(\.sid)) }

    private func freshID(excluding used: Set<UInt32>) -> UInt32 {
        while true {
            let candidate = KeyringSodium.randomUInt32()
            if candidate != 0 && !used.contains(candidate) { return candidate }
        }
    }

    private func keyIndex(_ kid: UInt32) throws(KeyringError) -> Int {
        guard let index = keys.firstIndex(where: { $0.kid == kid }) else {
            throw KeyringError(.unknownKey, "no key with kid \(KeyringID.format(kid)) in the keyring")
        }
        return index
    }

    private func checkTransition(_ index: Int, to next: KeyState, verb: String) throws(KeyringError) {
        let current = keys[index].state
        guard current.canTransition(to: next) else {
            let valid = current.allowedTransitions
            throw KeyringError(
                .invalidTransition,
                "cannot \(verb) key \(KeyringID.format(keys[index].kid)): it is \(current) and "
                    + (valid.isEmpty
                        ? "\(current) is final (no transitions)"
                        : "can only move to " + Self.list(valid.map(\.rawValue))))
        }
    }

    private mutating func move(
        _ kid: UInt32, to next: KeyState, from allowed: [KeyState], verb: String
    ) throws(KeyringError) {
        let index = try keyIndex(kid)
        guard allowed.contains(keys[index].state) else {
            let current = keys[index].state
            let valid = current.allowedTransitions
            throw KeyringError(
                .invalidTransition,
                "cannot \(verb) key \(KeyringID.format(kid)): it is \(current); \(verb) applies to "
                    + Self.list(allowed.map(\.rawValue)) + " keys; from \(current) valid: "
                    + (valid.isEmpty ? "none (final)" : Self.list(valid.map(\.rawValue))))
        }
        try checkTransition(index, to: next, verb: verb)
        keys[index].state = next
    }

    static func list(_ items: [String]) -> String { items.joined(separator: ", ") }
}

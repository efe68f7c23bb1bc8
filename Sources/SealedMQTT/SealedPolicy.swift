public import Seal
public import SealKeyring

/// Whether ``SealedMQTTClient/publish(to:payload:qos:retain:)-(_,[UInt8],_,_)`` signs (encrypt-then-sign) on a topic.
public enum PublishSigning: String, Sendable, Hashable, CaseIterable {
    /// Never sign: the envelope is authenticated by the group key only.
    case never
    /// Sign when the key source has a signing identity for the topic and the topic's primary key can be combined
    /// with a signature (an AEAD key; an HMAC key is never combined with a signer). The default.
    case whenAvailable
    /// Always sign; publishing fails with ``SealedMQTTError/Code/sealingFailed`` when no identity signs for the
    /// topic.
    case always
}

/// How ``SealedMQTTClient/publish(to:payload:qos:retain:)-(_,[UInt8],_,_)`` protects a payload on a topic.
public enum PublishSealing: String, Sendable, Hashable, CaseIterable {
    /// Seal with the topic's primary key (encrypt, encrypt + sign, or MAC, as the key's suite and
    /// ``SealedTopicPolicy/signing`` decide). The default.
    case primaryKey
    /// Sign only: the payload stays in clear with an Ed25519 signature of the topic's signing identity
    /// (mode `sign`, suite `ed25519`). For data that must be attributable but not confidential.
    case signOnly
}

/// What a sealed client demands of the messages on one topic filter, and how it publishes there.
///
/// Receiving, after the envelope opened (keys, topic binding, freshness and replay are checked by Seal's
/// `Opener` against the keyring's ACL):
/// - ``requiresSignature``: unsigned envelopes (encrypt, MAC) are rejected (`signatureRequired`).
/// - ``allowedSigners``: only envelopes signed by one of these sids pass (`signerNotAllowed`); an unsigned one is
///   rejected as `signatureRequired`. `nil` accepts every signer the keyring trusts on the topic.
/// - ``allowedSuites``: only envelopes whose key has one of these suites pass (`suiteNotAllowed`); sign-only
///   envelopes count as `ed25519`. `nil` accepts every suite.
/// - ``allowsPlaintext``: a payload that is not an envelope is delivered unopened, marked as plaintext. Without
///   it such a payload is rejected (`malformed`). Envelopes on a plaintext topic are still opened and verified.
///
/// Publishing: ``sealing`` and ``signing`` choose the mode; a required signature forces signing.
public struct SealedTopicPolicy: Sendable, Hashable {
    /// Reject envelopes without a verified Ed25519 signature. Publishing then always signs.
    public var requiresSignature: Bool
    /// The sids whose signatures are accepted, or nil for every signer the keyring trusts on the topic.
    public var allowedSigners: Set<UInt32>?
    /// The suites whose envelopes are accepted (and that may seal on publish), or nil for all.
    public var allowedSuites: Set<Suite>?
    /// Deliver payloads that are not envelopes unopened (explicit opt-in for topics carrying clear data).
    public var allowsPlaintext: Bool
    /// Whether publishing signs.
    public var signing: PublishSigning
    /// How publishing protects the payload.
    public var sealing: PublishSealing

    /// Creates a topic policy; the defaults accept any envelope the keyring opens and reject plaintext.
    public init(
        requiresSignature: Bool = false, allowedSigners: Set<UInt32>? = nil, allowedSuites: Set<Suite>? = nil,
        allowsPlaintext: Bool = false, signing: PublishSigning = .whenAvailable, sealing: PublishSealing = .primaryKey
    ) {
        self.requiresSignature = requiresSignature
        self.allowedSigners = allowedSigners
        self.allowedSuites = allowedSuites
        self.allowsPlaintext = allowsPlaintext
        self.signing = signing
        self.sealing = sealing
    }

    /// The default: any envelope the keyring opens, no plaintext, sign when an identity is available.
    public static let `default` = SealedTopicPolicy()

    /// Clear data: non-envelopes pass through unopened; envelopes are still verified.
    public static let plaintext = SealedTopicPolicy(allowsPlaintext: true)

    /// Signed traffic only, optionally from the given signers; publishing always signs.
    public static func signed(by signers: Set<UInt32>? = nil) -> SealedTopicPolicy {
        SealedTopicPolicy(requiresSignature: true, allowedSigners: signers, signing: .always)
    }

    /// Whether a received envelope must carry a signature (``requiresSignature`` or an ``allowedSigners`` list).
    public var demandsSignature: Bool { requiresSignature || allowedSigners != nil }

    /// Checks that the policy is not contradictory.
    ///
    /// - Throws: ``SealedMQTTError/Code/invalidPolicy`` for plaintext together with a required signature or
    ///   signer list, a required signature (or sign-only sealing) with ``PublishSigning/never``, an empty signer or
    ///   suite list, or sign-only sealing whose `ed25519` suite is not allowed.
    public func validate() throws(SealedMQTTError) {
        if allowsPlaintext && demandsSignature {
            throw SealedMQTTError(
                .invalidPolicy, "a plaintext topic cannot require signatures (plaintext is never signed)")
        }
        if (demandsSignature || sealing == .signOnly) && signing == .never {
            throw SealedMQTTError(.invalidPolicy, "signatures are required on this topic but signing is disabled")
        }
        if let allowedSigners, allowedSigners.isEmpty {
            throw SealedMQTTError(.invalidPolicy, "the list of allowed signers is empty: nothing could pass")
        }
        if let allowedSuites, allowedSuites.isEmpty {
            throw SealedMQTTError(.invalidPolicy, "the list of allowed suites is empty: nothing could pass")
        }
        if sealing == .signOnly, let allowedSuites, !allowedSuites.contains(.ed25519) {
            throw SealedMQTTError(.invalidPolicy, "sign-only sealing needs the ed25519 suite to be allowed")
        }
    }
}

/// Per-topic-filter policies of a sealed client: the most specific matching filter wins.
///
/// Filters follow MQTT (`+` one level, `#` the rest) and are matched against the concrete PUBLISH topic, also for
/// messages received through a shared subscription (`$share/group/...`). Among the filters that match a topic the
/// most specific one decides (levels from the left: literal > `+` > end of filter > `#`, Specs/keyring.md §6), so
/// `sensors/kitchen/temp` beats `sensors/+/temp` beats `sensors/#`. A topic no filter matches gets
/// ``defaultPolicy``. Rules are not combined: the winning rule is the whole policy of the topic.
public struct SealedPolicy: Sendable {
    /// One filter and its policy.
    public struct Rule: Sendable, Hashable {
        /// The topic filter.
        public let filter: TopicFilter
        /// The policy of the topics whose most specific matching filter is ``filter``.
        public let policy: SealedTopicPolicy
    }

    /// The policy of topics that no rule matches.
    public private(set) var defaultPolicy: SealedTopicPolicy
    /// The rules, in the order they were set (the order does not affect matching).
    public private(set) var rules: [Rule]

    /// A policy with only a default (``SealedTopicPolicy/default`` unless given).
    ///
    /// - Throws: ``SealedMQTTError/Code/invalidPolicy`` when the default is contradictory.
    public init(default defaultPolicy: SealedTopicPolicy = .default) throws(SealedMQTTError) {
        try defaultPolicy.validate()
        self.defaultPolicy = defaultPolicy
        self.rules = []
    }

    /// A policy with a default and rules keyed by topic filter.
    ///
    /// - Throws: ``SealedMQTTError/Code/invalidPolicy`` for a malformed filter or a contradictory policy.
    public init(
        default defaultPolicy: SealedTopicPolicy = .default, rules: [String: SealedTopicPolicy]
    ) throws(SealedMQTTError) {
        try self.init(default: defaultPolicy)
        for (filter, policy) in rules.sorted(by: { $0.key < $1.key }) { try set(policy, for: filter) }
    }

    /// The permissive default policy (``SealedTopicPolicy/default`` everywhere).
    public static let standard = try! SealedPolicy()

    /// Sets (or replaces) the policy of a topic filter.
    ///
    /// - Throws: ``SealedMQTTError/Code/invalidPolicy`` for a malformed filter (or a shared-subscription filter:
    ///   policies apply to concrete topics) or a contradictory policy.
    public mutating func set(_ policy: SealedTopicPolicy, for filter: String) throws(SealedMQTTError) {
        try policy.validate()
        if filter.hasPrefix("$share/") {
            throw SealedMQTTError(
                .invalidPolicy, "policy filter \(filter) is a shared subscription; use the topic filter after the group"
            )
        }
        let parsed: TopicFilter
        do {
            parsed = try TopicFilter(filter)
        } catch {
            throw SealedMQTTError(.invalidPolicy, "policy filter: \(error.message)", keyringError: error)
        }
        rules.removeAll { $0.filter == parsed }
        rules.append(Rule(filter: parsed, policy: policy))
    }

    /// Replaces the default policy.
    ///
    /// - Throws: ``SealedMQTTError/Code/invalidPolicy`` for a contradictory policy.
    public mutating func setDefault(_ policy: SealedTopicPolicy) throws(SealedMQTTError) {
        try policy.validate()
        defaultPolicy = policy
    }

    /// The rule that decides `topic`: the most specific matching filter, or nil when only the default applies.
    public func rule(for topic: String) -> Rule? {
        var best: Rule?
        for rule in rules where rule.filter.matches(topic) {
            if let current = best, !rule.filter.isMoreSpecific(than: current.filter) { continue }
            best = rule
        }
        return best
    }

    /// The policy of a concrete topic: the most specific matching rule, else ``defaultPolicy``.
    public func policy(for topic: String) -> SealedTopicPolicy {
        rule(for: topic)?.policy ?? defaultPolicy
    }
}

public import MQTT
public import Seal

/// A received message that was not delivered, and why. For monitoring: the payload itself is not kept.
public struct SealedRejection: Sendable, Hashable {
    /// Why a message was not delivered: a Seal check (`SealError.Reason`) or a policy check.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        /// The envelope check that failed, or nil for a policy reason.
        public let sealReason: SealError.Reason?

        private init(policy name: String) {
            self.name = name
            self.sealReason = nil
        }

        /// The reason of a failed envelope check (`malformed`, `unknownKey`, `authenticationFailed`,
        /// `untrustedSigner`, `badSignature`, `replayed`, `outsideWindow`, `stale`, `future`, ...).
        public init(_ reason: SealError.Reason) {
            self.name = reason.description
            self.sealReason = reason
        }

        /// The envelope verified but carries no signature, and the topic's policy requires one.
        public static let signatureRequired = Reason(policy: "signatureRequired")
        /// The envelope was signed by a signer the keyring trusts, but not one the topic's policy allows.
        public static let signerNotAllowed = Reason(policy: "signerNotAllowed")
        /// The envelope's key has a suite the topic's policy does not allow.
        public static let suiteNotAllowed = Reason(policy: "suiteNotAllowed")

        /// The envelope's sequence number was accepted before: a QoS 1 redelivery, an overlapping subscription
        /// or a replay. Counted as a duplicate (``SealedStatistics/duplicates``), not as a rejection.
        public static let replayed = Reason(.replayed)

        /// Whether this is ``replayed`` (a duplicate of a message that was delivered).
        public var isDuplicate: Bool { sealReason == .replayed }

        /// The reason's stable name, for example `authenticationFailed` or `signerNotAllowed`.
        public var description: String { name }

        /// Equality of the names.
        public static func == (lhs: Reason, rhs: Reason) -> Bool { lhs.name == rhs.name }

        /// Hashes the name.
        public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    }

    /// The concrete topic the message arrived on.
    public let topic: String
    /// The filter of the subscription that received it.
    public let subscription: String
    /// Why it was dropped.
    public let reason: Reason
    /// The MQTT retain flag of the delivery.
    public let retain: Bool
    /// The QoS of the delivery.
    public let qos: MQTTQoS
    /// The payload length in bytes.
    public let payloadBytes: Int
    /// The sender id of a message that authenticated but failed a policy check (nil otherwise: the ids of
    /// an envelope that did not verify are not trustworthy).
    public let senderID: UInt32?
}

/// Counters of a sealed client since it was created (all subscriptions together).
///
/// Every received message is counted exactly once: as ``delivered``, ``plaintext``, ``duplicates`` or in
/// ``rejections``. Counters are updated right after the message was handed to its subscription's buffer or
/// dropped, so a reader that just received a message may see the counters one message behind.
public struct SealedStatistics: Sendable, Hashable {
    /// Envelopes opened, verified and delivered.
    public var delivered: Int = 0
    /// Plaintext payloads passed through on opted-in topics.
    public var plaintext: Int = 0
    /// Envelopes dropped because the replay guard saw them before (``SealedRejection/Reason/replayed``).
    public var duplicates: Int = 0
    /// Rejected messages by reason (duplicates are not included).
    public var rejections: [SealedRejection.Reason: Int] = [:]
    /// Messages published by ``SealedMQTTClient/publish(to:payload:qos:retain:)-(_,[UInt8],_,_)`` (sealed) and
    /// ``SealedMQTTClient/publishPlaintext(to:payload:qos:retain:)``, counted when the broker accepted them.
    public var published: Int = 0

    /// Creates empty counters.
    public init() {}

    /// All rejected messages (without duplicates).
    public var rejected: Int { rejections.values.reduce(0, +) }

    /// The number of rejections with `reason` (for ``SealedRejection/Reason/replayed``: the duplicates).
    public func count(_ reason: SealedRejection.Reason) -> Int {
        reason.isDuplicate ? duplicates : rejections[reason, default: 0]
    }

    /// Every message received: delivered, plaintext, duplicates and rejected.
    public var received: Int { delivered + plaintext + duplicates + rejected }
}

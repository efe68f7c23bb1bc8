public import Logging
import NIOCore
public import Seal
public import SealKeyring

/// How a ``SealedMQTTClient`` seals, opens, verifies and reports.
public struct SealedMQTTConfiguration: Sendable {
    /// Per-topic-filter policies (signatures, signers, suites, plaintext, publish mode).
    public var policy: SealedPolicy
    /// Freshness and replay rules of each subscription's replay guard.
    public var replayPolicy: ReplayPolicy
    /// How many tasks verify the signed envelopes of one batch in parallel (child tasks of the consumer's `next()`,
    /// split by topic). Unsigned envelopes are always opened inline. Default: the number of active cores. At least 1.
    public var workerCount: Int
    /// The most messages a subscription's consumer takes from the MQTT stream in one hand-over and judges together,
    /// or nil for half the replay window (`ReplayPolicy.window` / 2, default 128). Signed envelopes of one batch are
    /// verified in parallel, so a message is overtaken by fewer than this many later ones before its replay check:
    /// the batch never pushes a genuine message below the replay window (the other half is left for reordering
    /// before the client: QoS 1 redelivery, concurrent publishers).
    public var maxInFlightPerSubscription: Int?
    /// Application context bound into every envelope (sealing and opening), or nil. Both sides must agree.
    public var context: [UInt8]?
    /// At most one log line per rejection reason per this interval; the next line says how many were suppressed.
    /// Default 1 s.
    public var rejectionLogInterval: Duration
    /// When a message names a key or signer the key source does not know, ask the source to reload
    /// (``SealingKeySource/refreshKeys()``) and open the message once more. This makes a one-step rotation of a
    /// shared keyring file (`Keyring.rotate`, `mqtt-seal keys rotate`) lossless even when the publisher reloads
    /// first. Costs one `stat` of the keyring file, at most once per ``keyRefreshInterval``. Default true.
    public var refreshesKeysOnUnknownID: Bool
    /// The least time between two reloads asked for by unknown key or signer ids, for all subscriptions of the
    /// client together: a flood of forged envelopes naming unknown ids costs one reload per interval, and a worker
    /// never waits for another's reload (a message arriving meanwhile is judged with the keys loaded). Default
    /// 100 ms.
    public var keyRefreshInterval: Duration
    /// How many delivered envelopes each subscription remembers (key id, sender id, sequence number) to count a
    /// copy redelivered after the replay window moved on, as a broker restart does when it resends its queue, as
    /// a duplicate instead of an `SealError.Reason.outsideWindow` rejection. The copy is dropped either way; this
    /// only decides how it is counted. 32 to 48 bytes each. Default 16,384; 0 turns it off.
    public var deliveredHistoryCapacity: Int
    /// The logger for rejections and lifecycle events.
    public var logger: Logger

    /// Creates a configuration; see each property for the defaults.
    public init(
        policy: SealedPolicy = .standard, replayPolicy: ReplayPolicy = ReplayPolicy(), workerCount: Int? = nil,
        maxInFlightPerSubscription: Int? = nil, context: [UInt8]? = nil, rejectionLogInterval: Duration = .seconds(1),
        refreshesKeysOnUnknownID: Bool = true, logger: Logger = Logger(label: "mqtt.sealed")
    ) {
        self.policy = policy
        self.replayPolicy = replayPolicy
        self.workerCount = workerCount ?? System.coreCount
        self.maxInFlightPerSubscription = maxInFlightPerSubscription
        self.context = context
        self.rejectionLogInterval = rejectionLogInterval
        self.refreshesKeysOnUnknownID = refreshesKeysOnUnknownID
        self.keyRefreshInterval = .milliseconds(100)
        self.logger = logger
        self.deliveredHistoryCapacity = 16_384
    }
}

extension SealedMQTTConfiguration {
    /// The in-flight limit in force: ``maxInFlightPerSubscription`` or half the replay window, at least 1.
    var effectiveInFlightLimit: Int { max(1, maxInFlightPerSubscription ?? replayPolicy.window / 2) }
}

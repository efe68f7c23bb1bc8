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
    /// Verification workers (opening and signature verification run in parallel on this many tasks).
    /// Default: the number of active cores. At least 1.
    public var workerCount: Int
    /// Messages waiting per worker before the subscription readers wait (bounded memory). Default 256.
    public var workerQueueCapacity: Int
    /// Verified messages buffered per subscription before the workers wait. Default 1024.
    public var subscriptionBufferCapacity: Int
    /// How far the worker pool may run ahead of the oldest message of a subscription that is not yet opened, or nil
    /// for half the replay window (`ReplayPolicy.window` / 2, default 128). A message is then overtaken by fewer
    /// than this many later messages before its replay check, so the pool itself never pushes a genuine message
    /// below the replay window (the other half is left for reordering before the client: QoS 1 redelivery,
    /// concurrent publishers). A topic whose worker is busy holds back the rest of the subscription by at most this
    /// many messages.
    public var maxInFlightPerSubscription: Int?
    /// Application context bound into every envelope (sealing and opening), or nil. Both sides must agree.
    public var context: [UInt8]?
    /// At most one log line per rejection reason per this interval; the next line says how many were suppressed.
    /// Default 1 s.
    public var rejectionLogInterval: Duration
    /// How long ``SealedMQTTClient/disconnect()`` waits for messages already received to be verified and handed to
    /// their subscriptions before it stops the workers. Default 5 s.
    public var drainTimeout: Duration
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
    /// only decides how it is counted. About 50 bytes each. Default 16,384; 0 turns it off.
    public var deliveredHistoryCapacity: Int
    /// The logger for rejections and lifecycle events.
    public var logger: Logger

    /// Creates a configuration; see each property for the defaults.
    public init(
        policy: SealedPolicy = .standard, replayPolicy: ReplayPolicy = ReplayPolicy(), workerCount: Int? = nil,
        workerQueueCapacity: Int = 256, subscriptionBufferCapacity: Int = 1024, maxInFlightPerSubscription: Int? = nil,
        context: [UInt8]? = nil,
        rejectionLogInterval: Duration = .seconds(1), drainTimeout: Duration = .seconds(5),
        refreshesKeysOnUnknownID: Bool = true, logger: Logger = Logger(label: "mqtt.sealed")
    ) {
        self.policy = policy
        self.replayPolicy = replayPolicy
        self.workerCount = workerCount ?? System.coreCount
        self.workerQueueCapacity = workerQueueCapacity
        self.subscriptionBufferCapacity = subscriptionBufferCapacity
        self.maxInFlightPerSubscription = maxInFlightPerSubscription
        self.context = context
        self.rejectionLogInterval = rejectionLogInterval
        self.drainTimeout = drainTimeout
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

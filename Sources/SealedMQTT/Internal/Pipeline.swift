import Logging
import MQTT
import Metrics
import NIOCore
import Seal
import SealKeyring
import Synchronization

/// Rejection counters, the rate-limited rejection log and the rejection streams of one client.
actor Accounting {
    private var duplicates = 0
    private var rejections: [SealedRejection.Reason: Int] = [:]
    /// Counted without entering the actor: a publish must not pay an actor hop for its statistics.
    private nonisolated let published = Atomic<Int>(0)
    private var observers: [UInt64: AsyncStream<SealedRejection>.Continuation] = [:]
    private var nextObserver: UInt64 = 0
    private var logWindows: [SealedRejection.Reason: (since: ContinuousClock.Instant, suppressed: Int)] = [:]
    private let logger: Logger
    private let interval: Duration
    /// The swift-metrics view of the same counts.
    nonisolated let metrics = SealedMetrics()
    private var rejectedCounters: [SealedRejection.Reason: Counter] = [:]

    init(logger: Logger, interval: Duration) {
        self.logger = logger
        self.interval = interval
    }

    func record(_ rejection: SealedRejection) {
        if rejection.reason.isDuplicate {
            duplicates += 1
            metrics.duplicates.increment()
        } else {
            rejections[rejection.reason, default: 0] += 1
            if let counter = rejectedCounters[rejection.reason] {
                counter.increment()
            } else {
                let counter = metrics.rejected(rejection.reason)
                rejectedCounters[rejection.reason] = counter
                counter.increment()
            }
        }
        for observer in observers.values { observer.yield(rejection) }
        log(rejection)
    }

    nonisolated func recordPublished() {
        published.add(1, ordering: .relaxed)
        metrics.published.increment()
    }

    /// At most one line per reason per interval; the next line reports how many were suppressed meanwhile.
    private func log(_ rejection: SealedRejection) {
        let now = ContinuousClock.now
        if let window = logWindows[rejection.reason], now < window.since + interval {
            logWindows[rejection.reason]!.suppressed += 1
            return
        }
        let suppressed = logWindows[rejection.reason]?.suppressed ?? 0
        logWindows[rejection.reason] = (now, 0)
        var metadata: Logger.Metadata = [
            "topic": "\(rejection.topic)", "reason": "\(rejection.reason)", "subscription": "\(rejection.subscription)",
            "bytes": "\(rejection.payloadBytes)",
        ]
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        if rejection.reason.isDuplicate {
            logger.debug("duplicate message dropped", metadata: metadata)
        } else {
            logger.warning("message rejected", metadata: metadata)
        }
    }

    func observe(bufferingNewest capacity: Int) -> AsyncStream<SealedRejection> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: SealedRejection.self, bufferingPolicy: .bufferingNewest(max(1, capacity)))
        nextObserver &+= 1
        let id = nextObserver
        observers[id] = continuation
        continuation.onTermination = { _ in Task { await self.removeObserver(id) } }
        return stream
    }

    private func removeObserver(_ id: UInt64) { observers[id] = nil }

    func finishObservers() {
        for observer in observers.values { observer.finish() }
        observers = [:]
    }

    func snapshot() -> SealedStatistics {
        var statistics = SealedStatistics()
        statistics.duplicates = duplicates
        statistics.rejections = rejections
        statistics.published = published.load(ordering: .relaxed)
        return statistics
    }
}

/// The bounded verification worker pool: one FIFO queue and one task per worker. A topic always goes to the same
/// worker (FNV-1a of its UTF-8 bytes), so messages of one topic are verified and delivered in arrival order while
/// different topics use every core.
final class VerificationPool: Sendable {
    let queues: [WorkerQueue]

    init(workers: Int, capacity: Int) {
        let queues = (0..<max(1, workers)).map { _ in WorkerQueue(capacity: capacity) }
        self.queues = queues
        for queue in queues {
            Task { await Self.work(queue) }
        }
    }

    private static func work(_ queue: WorkerQueue) async {
        var outcome: WorkOutcome?
        while let job = await queue.next(reporting: outcome) {
            switch job {
            case .message(let message, let pipeline, let ticket):
                outcome = await pipeline.handle(message, ticket: ticket)
            case .drain(let pipeline):
                await pipeline.output.workerDrained()
                outcome = nil
            }
        }
    }

    /// The queue of the worker that handles `topic`.
    func queue(for topic: String) -> WorkerQueue {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in topic.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return queues[Int(hash % UInt64(queues.count))]
    }

    func finish() async {
        for queue in queues { await queue.finish() }
    }

    func counters() async -> (delivered: Int, plaintext: Int) {
        var delivered = 0
        var plaintext = 0
        for queue in queues {
            let counters = await queue.counters
            delivered += counters.delivered
            plaintext += counters.plaintext
        }
        return (delivered, plaintext)
    }
}

/// One subscription: its opener (and replay guard), its policy view and its delivery buffer.
final class SubscriptionPipeline: Sendable {
    let filter: String
    let opener: Opener
    let keys: any SealingKeySource
    let policy: SealedPolicy
    let context: [UInt8]?
    let refreshesKeys: Bool
    let refreshGate: KeyRefreshGate
    let output: DeliveryBuffer
    let accounting: Accounting
    let delivered: DeliveredHistory

    init(
        filter: String, keys: any SealingKeySource, configuration: SealedMQTTConfiguration, workers: Int,
        accounting: Accounting, refreshGate: KeyRefreshGate
    ) {
        self.filter = filter
        self.refreshGate = refreshGate
        self.keys = keys
        self.opener = Opener(keys: keys, replayGuard: ReplayGuard(policy: configuration.replayPolicy))
        self.policy = configuration.policy
        self.context = configuration.context
        self.refreshesKeys = configuration.refreshesKeysOnUnknownID
        self.output = DeliveryBuffer(
            capacity: configuration.subscriptionBufferCapacity, workers: workers,
            inFlightLimit: configuration.effectiveInFlightLimit)
        self.accounting = accounting
        self.delivered = DeliveredHistory(capacity: configuration.deliveredHistoryCapacity)
    }

    /// Reads the MQTT stream into the workers (waiting while a worker's queue is full), then ends the subscription
    /// after every worker has processed its share.
    func read(_ stream: MQTTMessageStream, pool: VerificationPool) async {
        var failure: SealedMQTTError?
        var stopped = false
        do {
            for try await message in stream {
                var accepted = false
                if let ticket = await output.reserve() {
                    accepted = await pool.queue(for: message.topic).send(.message(message, self, ticket: ticket))
                }
                if !accepted {
                    stopped = true
                    break
                }
            }
        } catch {
            failure = .transport(error, "subscription \(filter)")
        }
        await output.setEndError(failure)
        if !stopped {
            for queue in pool.queues {
                let accepted = await queue.send(.drain(self))
                if !accepted {
                    stopped = true
                    break
                }
            }
        }
        if stopped {
            await output.finish(failure ?? SealedMQTTError(.shutDown, "the sealed client was shut down"))
        }
    }

    /// Opens, verifies and applies the topic's policy; delivers or records the rejection.
    func handle(_ message: MQTTMessage, ticket: UInt64) async -> WorkOutcome {
        let topicPolicy = policy.policy(for: message.topic)
        let metrics = accounting.metrics
        let started = ContinuousClock.now
        var result = message.payload.withUnsafeReadableBytes { bytes in
            openEnvelope(bytes, topic: message.topic, retained: message.retain)
        }
        // An unknown key or signer may be one this process has not loaded yet (the publisher reloaded first):
        // reload now and try once more. The first attempt failed before touching the replay state. At most one
        // reload per interval for the whole client (the gate), so a flood of unknown ids cannot keep the workers
        // re-reading the keyring.
        if refreshesKeys, case .failure(let error) = result,
            error.reason == .unknownKey || error.reason == .untrustedSigner, refreshGate.tryEnter()
        {
            keys.refreshKeys()
            metrics.keyringReloads.increment()
            result = message.payload.withUnsafeReadableBytes { bytes in
                openEnvelope(bytes, topic: message.topic, retained: message.retain)
            }
        }
        let elapsed = (ContinuousClock.now - started).components
        metrics.openDuration.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
        let rejection: SealedRejection.Reason
        var sender: UInt32?
        switch result {
        case .success(let opened):
            if let reason = check(opened, topic: message.topic, policy: topicPolicy) {
                rejection = reason
                sender = opened.senderID
            } else {
                let sealed = SealedMessage(
                    topic: message.topic, payload: opened.payload, retain: message.retain, qos: message.qos,
                    envelope: opened, properties: message.properties, packetIdentifier: message.packetIdentifier)
                if !message.retain { delivered.record(opened.identity) }
                guard await output.send(sealed, ticket: ticket) else { return .dropped }
                metrics.delivered.increment()
                return .delivered
            }
        case .failure(let error):
            if error.reason == .malformed && topicPolicy.allowsPlaintext {
                let clear = SealedMessage(
                    topic: message.topic, payload: Array(buffer: message.payload), retain: message.retain,
                    qos: message.qos, envelope: nil, properties: message.properties,
                    packetIdentifier: message.packetIdentifier)
                guard await output.send(clear, ticket: ticket) else { return .dropped }
                metrics.plaintext.increment()
                return .plaintext
            }
            // Authentic, but below the replay window: a copy of a delivered message (a broker restart resends its
            // queue) is a duplicate; one never delivered stays a rejection.
            if error.reason == .outsideWindow,
                let identity = message.payload.withUnsafeReadableBytes({ EnvelopeIdentity(envelope: $0) }),
                delivered.contains(identity)
            {
                rejection = .replayed
                sender = identity.senderID
            } else {
                rejection = SealedRejection.Reason(error.reason)
            }
        }
        await output.release(ticket)
        await accounting.record(
            SealedRejection(
                topic: message.topic, subscription: filter, reason: rejection, retain: message.retain, qos: message.qos,
                payloadBytes: message.payload.readableBytes, senderID: sender))
        return .dropped
    }

    private func openEnvelope(
        _ bytes: UnsafeRawBufferPointer, topic: String, retained: Bool
    ) -> Result<OpenedMessage, SealError> {
        withApplicationContext(context) { contextBytes in
            Result { () throws(SealError) in
                try opener.open(bytes, topic: topic, context: contextBytes, retained: retained)
            }
        }
    }

    /// The policy checks after the envelope authenticated; nil when the message passes.
    private func check(_ opened: OpenedMessage, topic: String, policy: SealedTopicPolicy) -> SealedRejection.Reason? {
        if policy.demandsSignature {
            guard let signer = opened.signer else { return .signatureRequired }
            if let allowed = policy.allowedSigners, !allowed.contains(signer) { return .signerNotAllowed }
        }
        if let suites = policy.allowedSuites {
            let suite: Suite? = opened.mode == .sign ? .ed25519 : keys.key(id: opened.keyID, topic: topic)?.suite
            guard let suite, suites.contains(suite) else { return .suiteNotAllowed }
        }
        return nil
    }
}

/// Calls `body` with the bytes of the configured application context, or nil when there is none (sealing and
/// opening bind the same context).
func withApplicationContext<R, E: Error>(
    _ context: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws(E) -> R
) throws(E) -> R {
    guard let context else { return try body(nil) }
    return try context.withUnsafeBytes { bytes in Result { () throws(E) in try body(bytes) } }.get()
}

import MQTT
import NIOCore
import Seal
import SealKeyring
import Synchronization

/// What judging one received message decided.
enum Verdict: Sendable {
    /// Opened and verified (or clear data on a topic that opted in): hand it to the consumer.
    case deliver(SealedMessage)
    /// Dropped: a rejection or a duplicate.
    case drop(SealedRejection)
}

/// One subscription's rules: its opener (and replay guard), its policy view and its accounting. It keeps no queue
/// and runs no task: the subscription's consumer judges each batch the MQTT stream hands over (see
/// ``SubscriptionReader``).
final class SubscriptionPipeline: Sendable {
    let filter: String
    let opener: Opener
    let keys: any SealingKeySource
    let policy: SealedPolicy
    let context: [UInt8]?
    let refreshesKeys: Bool
    let refreshGate: KeyRefreshGate
    let accounting: Accounting
    let delivered: DeliveredHistory
    /// Signed envelopes of one batch are verified on up to this many tasks.
    let lanes: Int
    /// The most messages taken in one hand-over (and so the most one batch can reorder before the replay check).
    let batchLimit: Int

    init(
        filter: String, keys: any SealingKeySource, configuration: SealedMQTTConfiguration, accounting: Accounting,
        refreshGate: KeyRefreshGate
    ) {
        self.filter = filter
        self.refreshGate = refreshGate
        self.keys = keys
        self.opener = Opener(keys: keys, replayGuard: ReplayGuard(policy: configuration.replayPolicy))
        self.policy = configuration.policy
        self.context = configuration.context
        self.refreshesKeys = configuration.refreshesKeysOnUnknownID
        self.accounting = accounting
        self.delivered = DeliveredHistory(capacity: configuration.deliveredHistoryCapacity)
        self.lanes = max(1, configuration.workerCount)
        self.batchLimit = configuration.effectiveInFlightLimit
    }

    /// Judges a batch in arrival order and appends what passes to `ready`; rejections are recorded.
    ///
    /// Unsigned envelopes (about 1 µs each) are opened right here. A batch with signed envelopes (about 50 µs each)
    /// is split into lanes by topic, and the lanes run as child tasks: a topic's messages stay in one lane, in
    /// order, and the verdicts are applied in the batch's order, so delivery order is arrival order.
    func judge(_ batch: [MQTTMessage], into ready: inout CircularBuffer<SealedMessage>) async {
        if lanes > 1 && batch.count > 1 && batch.contains(where: Self.isSigned) {
            for (message, first) in zip(batch, await judgeInLanes(batch)) {
                let verdict = mayKnowAfterReload(first) ? await reloadAndJudge(message) : first
                if let passed = apply(verdict) { ready.append(passed) }
            }
        } else {
            for message in batch {
                let first = judge(message)
                let verdict = mayKnowAfterReload(first) ? await reloadAndJudge(message) : first
                if let passed = apply(verdict) { ready.append(passed) }
            }
        }
    }

    /// Judges a message that came alone; the message when it passes.
    func judgeOne(_ message: MQTTMessage) async -> SealedMessage? {
        let first = judge(message)
        return apply(mayKnowAfterReload(first) ? await reloadAndJudge(message) : first)
    }

    /// Whether a rejected message should be judged once more after a reload, and the gate let this caller reload.
    ///
    /// An unknown key or signer may be one this process has not loaded yet (the publisher reloaded first): reload
    /// now and judge the message once more. Its first judgement failed before touching the replay state. At most
    /// one reload per interval for the whole client (the gate), so a flood of unknown ids cannot keep the
    /// subscriptions re-reading the keyring, and none waits for another's reload. The reload (file I/O, possibly
    /// Argon2id, under the watcher's lock) runs on ``BlockingWork``'s threads, not on the consumer's.
    private func mayKnowAfterReload(_ verdict: Verdict) -> Bool {
        guard refreshesKeys, case .drop(let rejection) = verdict else { return false }
        let reason = rejection.reason.sealReason
        return (reason == .unknownKey || reason == .untrustedSigner) && refreshGate.tryEnter()
    }

    /// Reloads the keys (the gate let this caller through) and judges `message` again.
    private func reloadAndJudge(_ message: MQTTMessage) async -> Verdict {
        let keys = self.keys
        _ = await BlockingWork.run { keys.refreshKeys() }
        accounting.metrics.keyringReloads.increment()
        return judge(message)
    }

    /// Counts the verdict (and records a rejection); the message to hand over when it passed.
    private func apply(_ verdict: consuming Verdict) -> SealedMessage? {
        switch verdict {
        case .deliver(let message):
            if message.isPlaintext { accounting.recordPlaintext() } else { accounting.recordDelivered() }
            return message
        case .drop(let rejection):
            accounting.record(rejection)
            return nil
        }
    }

    private static func isSigned(_ message: MQTTMessage) -> Bool {
        message.payload.withUnsafeReadableBytes { SealMode(envelopeHeader: $0)?.isSigned ?? false }
    }

    private func judgeInLanes(_ batch: [MQTTMessage]) async -> [Verdict] {
        let laneCount = min(lanes, batch.count)
        let laneOf = batch.map { Self.lane(of: $0.topic, count: laneCount) }
        var verdicts = [Verdict?](repeating: nil, count: batch.count)
        await withTaskGroup(of: [(Int, Verdict)].self) { group in
            for lane in 1..<laneCount {
                group.addTask { self.judge(batch, lane: lane, of: laneOf) }
            }
            for (index, verdict) in judge(batch, lane: 0, of: laneOf) { verdicts[index] = verdict }
            for await part in group {
                for (index, verdict) in part { verdicts[index] = verdict }
            }
        }
        return verdicts.map { $0! }
    }

    private func judge(_ batch: [MQTTMessage], lane: Int, of laneOf: [Int]) -> [(Int, Verdict)] {
        var verdicts: [(Int, Verdict)] = []
        for index in batch.indices where laneOf[index] == lane { verdicts.append((index, judge(batch[index]))) }
        return verdicts
    }

    /// FNV-1a of the topic's UTF-8 bytes.
    private static func lane(of topic: String, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in topic.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(count))
    }

    /// Opens, verifies and applies the topic's policy.
    func judge(_ message: MQTTMessage) -> Verdict {
        let topicPolicy = policy.policy(for: message.topic)
        let metrics = accounting.metrics
        let started = ContinuousClock.now
        let result = message.payload.withUnsafeReadableBytes { bytes in
            openEnvelope(bytes, topic: message.topic, retained: message.retain)
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
                if !message.retain { delivered.record(opened.identity) }
                return .deliver(
                    SealedMessage(
                        topic: message.topic, payload: opened.payload, retain: message.retain, qos: message.qos,
                        verified: OpenedEnvelope(describing: opened), properties: message.properties,
                        packetIdentifier: message.packetIdentifier))
            }
        case .failure(let error):
            if error.reason == .malformed && topicPolicy.allowsPlaintext {
                return .deliver(
                    SealedMessage(
                        topic: message.topic, payload: Array(buffer: message.payload), retain: message.retain,
                        qos: message.qos, verified: nil, properties: message.properties,
                        packetIdentifier: message.packetIdentifier))
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
        return .drop(
            SealedRejection(
                topic: message.topic, subscription: filter, reason: rejection, retain: message.retain, qos: message.qos,
                payloadBytes: message.payload.readableBytes, senderID: sender))
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

/// The consumer's side of one subscription: takes what the MQTT stream has buffered in one hand-over, judges it
/// (``SubscriptionPipeline/judge(_:into:)``) and returns the messages that passed one by one. Shared by the
/// stream's copies and iterators, so a message judged for one iterator is returned by the next one. It holds the
/// MQTT stream, so dropping it (with the stream and its iterators) ends the subscription.
final class SubscriptionReader: Sendable {
    private let raw: MQTTMessageStream
    let pipeline: SubscriptionPipeline
    /// Judged messages not yet returned: at most one batch.
    private let ready = Mutex(CircularBuffer<SealedMessage>())

    init(raw: MQTTMessageStream, pipeline: SubscriptionPipeline) {
        self.raw = raw
        self.pipeline = pipeline
    }

    /// Messages received and not yet returned: the MQTT stream's buffer plus the judged rest of a batch.
    var buffered: Int { raw.bufferedCount + ready.withLock { $0.count } }

    /// QoS 0 messages the MQTT stream dropped while its consumer did not keep up.
    var dropped: Int { raw.droppedCount }

    func next() async throws -> SealedMessage? {
        while true {
            if let message = ready.withLock({ $0.popFirst() }) { return message }
            let first: MQTTMessage
            do {
                guard let message = try await raw.next() else { return nil }
                first = message
            } catch let error as MQTTError {
                throw SealedMQTTError.transport(error, "subscription \(pipeline.filter)")
            }
            var batch = [first]
            raw.takeBuffered(upTo: pipeline.batchLimit - 1, into: &batch)
            if batch.count == 1 {
                // One message per read (a light load): no batch to build.
                if let message = await pipeline.judgeOne(first) { return message }
                continue
            }
            // One slot more than the batch: a CircularBuffer grows when it becomes full.
            var judged = CircularBuffer<SealedMessage>(initialCapacity: batch.count + 1)
            await pipeline.judge(batch, into: &judged)
            guard let head = judged.popFirst() else { continue }
            if !judged.isEmpty {
                // Handed over whole: the buffer is empty unless another iterator of a copy of the stream filled it.
                ready.withLock { ready in
                    if ready.isEmpty { swap(&ready, &judged) } else { ready.append(contentsOf: judged) }
                }
            }
            return head
        }
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

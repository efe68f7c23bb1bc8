import NIOCore
import Synchronization
import Testing

@testable import MQTT

/// The subscription buffer's hand-over: a waiting consumer is woken once per socket read, not per message.
@Suite("Subscription stream buffer")
struct ClientStreamBufferTests {
    private func message(_ n: Int) -> MQTTMessage {
        MQTTMessage(topic: "t", payload: ByteBuffer(string: "\(n)"))
    }

    /// What a consumer read, and the error that ended the stream, if any.
    struct Consumed: Sendable {
        var payloads: [String] = []
        var error: MQTTError?
    }

    /// Starts a consumer that reads `count` messages (or until the end) and waits until it is suspended.
    private func waitingConsumer(_ box: StreamBox, count: Int) async throws -> Task<Consumed, Never> {
        let consumer = Task {
            var consumed = Consumed()
            do {
                while consumed.payloads.count < count, let next = try await box.next() {
                    consumed.payloads.append(next.payloadString)
                }
            } catch {
                consumed.error = error as? MQTTError
            }
            return consumed
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !box.hasWaitingConsumer {
            guard ContinuousClock.now < deadline else {
                consumer.cancel()
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        return consumer
    }

    @Test("a burst is buffered while the consumer waits, then one wake-up hands over all of it in order")
    func burstThenOneWake() async throws {
        let resumed = Atomic<Int>(0)
        let box = StreamBox(id: 1, topicFilters: ["t"], capacity: 100) { _ in resumed.add(1, ordering: .relaxed) }
        let consumer = try await waitingConsumer(box, count: 5)
        var wakes = 0
        for n in 0..<5 where box.yield(message(n)).wakeConsumer { wakes += 1 }
        // Only the first message of the burst asks for a wake-up, and nobody was resumed yet.
        #expect(wakes == 1)
        #expect(box.bufferedCount == 5)
        #expect(box.hasWaitingConsumer)
        box.wakeConsumer()
        #expect(await consumer.value.payloads == ["0", "1", "2", "3", "4"])
        #expect(box.bufferedCount == 0)
        #expect(resumed.load(ordering: .relaxed) == 0)
    }

    @Test("the end of the stream delivers messages still waiting for their wake-up before it ends")
    func finishDeliversBufferedFirst() async throws {
        let box = StreamBox(id: 1, topicFilters: ["t"], capacity: 100) { _ in }
        let consumer = try await waitingConsumer(box, count: 10)
        #expect(box.yield(message(1)).wakeConsumer)
        #expect(!box.yield(message(2)).wakeConsumer)
        box.finish()
        let consumed = await consumer.value
        #expect(consumed.payloads == ["1", "2"])
        #expect(consumed.error == nil)
    }

    @Test("a failed end after buffered messages: the messages first, then the error")
    func finishWithErrorAfterMessages() async throws {
        let box = StreamBox(id: 1, topicFilters: ["t"], capacity: 100) { _ in }
        let consumer = try await waitingConsumer(box, count: 10)
        _ = box.yield(message(7))
        box.finish(.failure(MQTTError(.connectionClosed, reasonCode: .unspecifiedError, "gone")))
        let consumed = await consumer.value
        #expect(consumed.payloads == ["7"])
        #expect(consumed.error?.code == .connectionClosed)
    }

    @Test("a full buffer asks the producer to pause reading, and draining to half resumes it")
    func fullBufferPauses() async throws {
        let resumed = Atomic<Int>(0)
        let box = StreamBox(id: 3, topicFilters: ["t"], capacity: 4) { id in
            #expect(id == 3)
            resumed.add(1, ordering: .relaxed)
        }
        let outcomes = (0..<4).map { box.yield(message($0)).pauseReading }
        #expect(outcomes == [false, false, false, true])
        _ = try await box.next()
        #expect(resumed.load(ordering: .relaxed) == 0)
        _ = try await box.next()
        #expect(resumed.load(ordering: .relaxed) == 1)
    }

    @Test("the last reference to a stream (value, copies, iterators) going away reports it abandoned, once")
    func droppingTheLastReferenceReportsTheStreamAbandoned() {
        let abandoned = Atomic<Int>(0)
        let box = StreamBox(id: 5, topicFilters: ["t"], capacity: 4) { _ in }
        do {
            let stream = MQTTMessageStream(
                topicFilters: ["t"], grantedReasonCodes: [.grantedQoS1], box: box,
                lifetime: StreamLifetime(id: 5) { id in
                    #expect(id == 5)
                    abandoned.add(1, ordering: .relaxed)
                })
            var iterator: MQTTMessageStream.AsyncIterator? = stream.makeAsyncIterator()
            let copy = stream
            _ = copy
            #expect(abandoned.load(ordering: .relaxed) == 0)
            iterator = nil
            _ = iterator
        }
        #expect(abandoned.load(ordering: .relaxed) == 1)
    }

    // MARK: - Isolating a slow consumer (MQTTSlowSubscriptionPolicy.isolate)

    private func message(_ n: Int, qos: MQTTQoS) -> MQTTMessage {
        MQTTMessage(
            topic: "t", payload: ByteBuffer(string: "\(n)"), qos: qos,
            packetIdentifier: qos == .atMostOnce ? nil : UInt16(n))
    }

    /// Yields `message` as the client does: one hold per message, released by the client after delivering.
    /// Returns the outcome and whether the acknowledgement is due now (nobody withheld it).
    private func deliver(
        _ box: StreamBox, _ message: MQTTMessage, read: Int = 1
    ) -> (outcome: StreamBox.YieldOutcome, ackNow: Bool) {
        var hold: AcknowledgementHold?
        let ack = message.packetIdentifier.map {
            UnroutedMessages.DeferredAck.puback(packetIdentifier: $0, connectionID: 1)
        }
        let outcome = box.yield(message, ack: ack, hold: &hold, read: read)
        return (outcome, hold.map { $0.release() } ?? true)
    }

    @Test("isolate: a full buffer drops (and counts) QoS 0 messages without pausing reading")
    func isolateDropsQoS0() async throws {
        let box = StreamBox(id: 1, topicFilters: ["t"], capacity: 4, policy: .isolate) { _ in }
        let outcomes = (0..<10).map { deliver(box, message($0, qos: .atMostOnce), read: $0).outcome }
        #expect(outcomes.allSatisfy { !$0.pauseReading })
        #expect(outcomes.map(\.firstDrop) == [false, false, false, false, true, false, false, false, false, false])
        #expect(box.bufferedCount == 4)
        #expect(box.droppedCount == 6)
        // The buffered ones are the first four, in order.
        var taken: [String] = []
        while box.bufferedCount > 0, let next = try await box.next() { taken.append(next.payloadString) }
        #expect(taken == ["0", "1", "2", "3"])
    }

    @Test(
        "isolate: within one socket read the buffer takes everything; only a consumer still behind at the next read loses QoS 0"
    )
    func isolateCountsFromTheNextRead() async throws {
        let box = StreamBox(id: 1, topicFilters: ["t"], capacity: 4, policy: .isolate) { _ in }
        for n in 0..<10 { _ = deliver(box, message(n, qos: .atMostOnce), read: 1) }
        #expect(box.bufferedCount == 10)
        #expect(box.droppedCount == 0)
        // The consumer takes seven (three left, below the capacity): it keeps up, so the next read is buffered too.
        var batch: [MQTTMessage] = []
        box.takeBuffered(upTo: 7, into: &batch)
        for n in 10..<12 { _ = deliver(box, message(n, qos: .atMostOnce), read: 2) }
        #expect(box.bufferedCount == 5)
        // Full since read 2 and not drained: read 3 drops.
        #expect(deliver(box, message(12, qos: .atMostOnce), read: 3).outcome.firstDrop)
        #expect(box.bufferedCount == 5)
        #expect(box.droppedCount == 1)
    }

    @Test("pauseReading (the default) never drops: the fourth message of a buffer of four pauses reading")
    func pauseReadingNeverDrops() {
        let box = StreamBox(id: 1, topicFilters: ["t"], capacity: 4) { _ in }
        let outcomes = (0..<6).map { deliver(box, message($0, qos: .atMostOnce)).outcome }
        #expect(outcomes.map(\.pauseReading) == [false, false, false, true, false, false])
        #expect(box.bufferedCount == 6)
        #expect(box.droppedCount == 0)
    }

    @Test(
        "isolate: beyond the buffer, QoS 1 messages are kept with their PUBACK withheld until the consumer takes them")
    func isolateWithholdsQoS1Acks() async throws {
        let released = Mutex<[UnroutedMessages.DeferredAck]>([])
        let box = StreamBox(
            id: 1, topicFilters: ["t"], capacity: 4, policy: .isolate, onResume: { _ in },
            onRelease: { acks in released.withLock { $0 += acks } })
        let delivered = (1...7).map { deliver(box, message($0, qos: .atLeastOnce), read: $0) }
        #expect(delivered.map(\.ackNow) == [true, true, true, true, false, false, false])
        #expect(delivered.allSatisfy { !$0.outcome.pauseReading })
        #expect(box.withheldCount == 3)
        #expect(box.bufferedCount == 7)
        // Taking the four acknowledged messages releases nothing; the fifth releases its PUBACK.
        var batch: [MQTTMessage] = []
        box.takeBuffered(upTo: 4, into: &batch)
        #expect(released.withLock { $0 }.isEmpty)
        _ = try await box.next()
        #expect(released.withLock { $0 } == [.puback(packetIdentifier: 5, connectionID: 1)])
        box.takeBuffered(upTo: 10, into: &batch)
        #expect(batch.map(\.payloadString) == ["1", "2", "3", "4", "6", "7"])
        #expect(
            released.withLock { $0 } == [5, 6, 7].map { .puback(packetIdentifier: $0, connectionID: 1) })
        #expect(box.withheldCount == 0)
    }

    @Test(
        "isolate: a stream holding as many withheld messages as its capacity pauses reading, so it never holds more than twice its capacity"
    )
    func isolateFallsBackToPausing() async throws {
        let resumed = Atomic<Int>(0)
        let box = StreamBox(
            id: 1, topicFilters: ["t"], capacity: 4, policy: .isolate,
            onResume: { _ in resumed.add(1, ordering: .relaxed) })
        let outcomes = (1...8).map { deliver(box, message($0, qos: .exactlyOnce), read: $0).outcome.pauseReading }
        #expect(outcomes == [false, false, false, false, false, false, false, true])
        #expect(box.withheldCount == 4)
        var batch: [MQTTMessage] = []
        box.takeBuffered(upTo: 5, into: &batch)
        #expect(resumed.load(ordering: .relaxed) == 0)  // 3 left: above half of 4
        box.takeBuffered(upTo: 1, into: &batch)
        #expect(resumed.load(ordering: .relaxed) == 1)
    }

    @Test(
        "isolate: a message acknowledged before it reached a full stream (no acknowledgement to withhold) pauses reading"
    )
    func isolateWithoutAckPauses() {
        let box = StreamBox(id: 1, topicFilters: ["t"], capacity: 2, policy: .isolate) { _ in }
        var hold: AcknowledgementHold?
        _ = box.yield(message(1, qos: .atLeastOnce), ack: nil, hold: &hold, read: 1)
        _ = box.yield(message(2, qos: .atLeastOnce), ack: nil, hold: &hold, read: 1)
        #expect(box.yield(message(3, qos: .atLeastOnce), ack: nil, hold: &hold, read: 2).pauseReading)
        #expect(box.bufferedCount == 3)
        #expect(box.droppedCount == 0)
    }

    @Test("isolate: a message on two full streams is acknowledged only when both consumers took it")
    func withheldAcrossTwoStreams() async throws {
        let released = Mutex<[UnroutedMessages.DeferredAck]>([])
        let onRelease: @Sendable ([UnroutedMessages.DeferredAck]) -> Void = { acks in released.withLock { $0 += acks } }
        let first = StreamBox(
            id: 1, topicFilters: ["t"], capacity: 1, policy: .isolate, onResume: { _ in }, onRelease: onRelease)
        let second = StreamBox(
            id: 2, topicFilters: ["#"], capacity: 1, policy: .isolate, onResume: { _ in }, onRelease: onRelease)
        for box in [first, second] { _ = deliver(box, message(1, qos: .atLeastOnce)) }
        var hold: AcknowledgementHold?
        let ack = UnroutedMessages.DeferredAck.puback(packetIdentifier: 2, connectionID: 1)
        _ = first.yield(message(2, qos: .atLeastOnce), ack: ack, hold: &hold, read: 2)
        _ = second.yield(message(2, qos: .atLeastOnce), ack: ack, hold: &hold, read: 2)
        #expect(hold?.release() == false)
        var batch: [MQTTMessage] = []
        first.takeBuffered(upTo: 2, into: &batch)
        #expect(released.withLock { $0 }.isEmpty)
        #expect(second.discardBuffered() == [ack])
        #expect(released.withLock { $0 }.isEmpty)  // a discard returns what is due instead of reporting it
    }
}

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
}

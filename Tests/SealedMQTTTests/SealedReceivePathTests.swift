import Foundation
import LocalBroker
import MQTT
import NIOCore
import Seal
import SealKeyring
import Testing

@testable import SealedMQTT

/// The receive path: memory bounded by the MQTT stream's buffer whatever the backlog, a dropped stream ends its
/// subscription, and no task runs behind a subscription.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SealedReceivePathTests {
    /// A consumer stalls while a backlog 100 times the buffer queues at the broker, then drains it. What the stream
    /// holds never exceeds the MQTT buffer, one read burst (NIO reads up to 4 x 64 KiB before it sees reading
    /// paused) and one judged batch, and every message arrives once, in order.
    @Test(arguments: [false, true])
    func drainingABacklogStaysWithinTheBuffer(signed: Bool) async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 100_000))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            try addPrimary(&keyring)
            try keyring.newSigningIdentity()
        }
        let capacity = 64
        let batch = 16
        let policy = try SealedPolicy(default: SealedTopicPolicy(signing: signed ? .always : .never))
        let subscriber = try await broker.sealedClient(
            "drain-sub", keys: try keys.watcher(), policy: policy,
            configure: {
                $0.maxInFlightPerSubscription = batch
                $0.workerCount = 2
            },
            mqtt: { $0.subscriptionBufferCapacity = capacity })
        let publisher = try await broker.sealedClient("drain-pub", keys: try keys.watcher(), policy: policy)
        let stream = try await subscriber.subscribe(to: "drain/#", qos: .atLeastOnce)
        let total = capacity * 100
        // 1,000-byte payloads: one read burst (4 x 64 KiB) holds at most 262 of them.
        let padding = String(repeating: "x", count: 1_000)
        for index in 0..<total {
            try await publisher.publish(
                to: "drain/\(index % 4)", payload: bytes("\(padding) \(index)"), qos: .atLeastOnce)
        }
        try await eventually(10, "buffer full") { stream.buffered >= capacity }
        let bound = capacity + 4 * 65_536 / 1_000 + batch
        let (received, peak) = try await withTimeout(60, "drained") { () throws -> ([Int], Int) in
            var iterator = stream.makeAsyncIterator()
            var peak = stream.buffered
            var received: [Int] = []
            while received.count < total, let message = try await iterator.next() {
                received.append(index(of: message))
                peak = max(peak, stream.buffered)
            }
            return (received, peak)
        }
        #expect(peak <= bound, "held \(peak) messages, bound \(bound)")
        #expect(received.count == total)
        #expect(Set(received).count == total, "duplicates")
        for topic in 0..<4 {
            let indices = received.filter { $0 % 4 == topic }
            #expect(indices == Array(stride(from: topic, to: total, by: 4)), "order of drain/\(topic)")
        }
        let statistics = await subscriber.statistics
        #expect(statistics.delivered == total && statistics.rejected == 0 && statistics.duplicates == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A stream dropped after one message ends its subscription: thousands of messages on its filter no longer
    /// fill a buffer and pause reading, and the client's other subscription gets everything.
    @Test func aDroppedStreamEndsItsSubscription() async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 100_000))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let subscriber = try await broker.sealedClient(
            "dropped-sub", keys: try keys.watcher(), mqtt: { $0.subscriptionBufferCapacity = 8 })
        let publisher = try await broker.sealedClient("dropped-pub", keys: try keys.watcher())
        let kept = try await subscriber.subscribe(to: "kept/#", qos: .atLeastOnce)
        func readOneAndDrop() async throws {
            let dropped = try await subscriber.subscribe(to: "dropped/#", qos: .atLeastOnce)
            try await publisher.publish(to: "dropped/x", payload: bytes("first 0"), qos: .atLeastOnce)
            #expect(try await collect(dropped, count: 1).map(\.payloadString) == ["first 0"])
        }
        try await readOneAndDrop()
        let flood = 3_000
        for index in 0..<flood {
            try await publisher.publish(to: "dropped/x", payload: bytes("flood \(index)"), qos: .atLeastOnce)
        }
        for index in 0..<5 {
            try await publisher.publish(to: "kept/x", payload: bytes("kept \(index)"), qos: .atLeastOnce)
        }
        let received = try await collect(kept, count: 5, seconds: 20)
        #expect(received.map(\.payloadString) == (0..<5).map { "kept \($0)" })
        // The flood was not delivered to anyone (the subscription was gone at the broker or ended at the client).
        #expect(kept.buffered == 0)
        #expect(await subscriber.statistics.delivered == 6)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// With `MQTTSlowSubscriptionPolicy.isolate`, a subscription nobody reads does not hold back another one: at QoS 0
    /// its overflow is dropped and counted, at QoS 1 its overflow waits unacknowledged at the client (the broker's
    /// in-flight window, raised here from mosquitto's 20, and the buffer bound how many). Read later, the QoS 1
    /// subscription gets every message once, in order, and the withheld PUBACKs let the broker go on.
    @Test(arguments: [MQTTQoS.atMostOnce, .atLeastOnce])
    func aStalledSubscriptionDoesNotStallTheOthers(qos: MQTTQoS) async throws {
        let broker = try await LocalBroker.start(.init(maxInflightMessages: 1000, maxQueuedMessages: 100_000))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let capacity = 64
        let subscriber = try await broker.sealedClient(
            "stalled-sub-\(qos.rawValue)", keys: try keys.watcher(),
            mqtt: {
                $0.subscriptionBufferCapacity = capacity
                $0.slowSubscriptionPolicy = .isolate
            })
        let publisher = try await broker.sealedClient("stalled-pub-\(qos.rawValue)", keys: try keys.watcher())
        let stalled = try await subscriber.subscribe(to: "stalled/#", qos: qos)
        let kept = try await subscriber.subscribe(to: "kept/#", qos: qos)
        // At QoS 0 more than one socket read can carry (NIO reads at most 4 x 64 KiB at once); at QoS 1 below twice
        // the capacity, so the stream never falls back to pausing.
        let flood = qos == .atMostOnce ? 3_000 : 100
        let keptCount = 50
        // The kept subscription's consumer reads all along; nobody reads the stalled one.
        async let reading = collect(kept, count: keptCount, seconds: 20)
        for index in 0..<flood {
            try await publisher.publish(to: "stalled/x", payload: bytes("stalled \(index)"), qos: qos)
        }
        for index in 0..<keptCount {
            try await publisher.publish(to: "kept/x", payload: bytes("kept \(index)"), qos: qos)
        }
        let received = try await reading
        #expect(received.map(\.payloadString) == (0..<keptCount).map { "kept \($0)" })
        if qos == .atMostOnce {
            // Everything for the stalled subscription arrived before the kept messages (one publisher, one
            // subscriber connection): the buffer holds the first `capacity`, the rest were dropped and counted.
            // The stream kept what came before its buffer was full at the end of a socket read, and dropped the rest.
            let buffered = stalled.buffered
            #expect(buffered >= capacity && buffered < flood)
            #expect(stalled.droppedCount == flood - buffered)
            let first = try await collect(stalled, count: buffered)
            #expect(first.map(\.payloadString) == (0..<buffered).map { "stalled \($0)" })
        } else {
            #expect(stalled.droppedCount == 0)
            let all = try await collect(stalled, count: flood, seconds: 20)
            #expect(all.map(\.payloadString) == (0..<flood).map { "stalled \($0)" })
            // The withheld PUBACKs went out: the broker keeps delivering QoS 1 on both subscriptions.
            try await publisher.publish(to: "stalled/x", payload: bytes("after"), qos: qos)
            try await publisher.publish(to: "kept/x", payload: bytes("after"), qos: qos)
            #expect(try await collect(stalled, count: 1).map(\.payloadString) == ["after"])
            #expect(try await collect(kept, count: 1).map(\.payloadString) == ["after"])
        }
        let statistics = await subscriber.statistics
        #expect(statistics.rejected == 0 && statistics.duplicates == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// Judged messages belong to the stream, not to one iterator: a loop that stops early and a new loop over the
    /// same stream together see every message once.
    @Test func aNewIteratorContinuesWhereTheLastStopped() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let subscriber = try await broker.sealedClient("iterators-sub", keys: try keys.watcher())
        let publisher = try await broker.sealedClient("iterators-pub", keys: try keys.watcher())
        let stream = try await subscriber.subscribe(to: "iterators/#", qos: .atLeastOnce)
        let total = 200
        for index in 0..<total {
            try await publisher.publish(to: "iterators/t", payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        try await eventually(10, "received") { stream.buffered == total }
        var seen: [Int] = []
        for _ in 0..<20 { seen += try await collect(stream, count: 10).map(index(of:)) }
        #expect(seen == Array(0..<total))
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// SealedMQTT starts no unstructured task: subscriptions are judged by their consumers, signed batches on child
    /// tasks of that call, the keyring poll in a child of `run()`.
    @Test func sealedMQTTStartsNoUnstructuredTasks() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SealedMQTT")
        let enumerator = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        var files = 0
        var offenders: [String] = []
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            files += 1
            let text = try String(contentsOf: url, encoding: .utf8)
            for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                let unstructured = ["Task {", "Task.detached", "Task("].contains { pattern in
                    line.ranges(of: pattern).contains { range in
                        range.lowerBound == line.startIndex || !line[line.index(before: range.lowerBound)].isLetter
                    }
                }
                if unstructured {
                    offenders.append("\(url.lastPathComponent): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(files > 10)
        #expect(offenders == [])
    }
}

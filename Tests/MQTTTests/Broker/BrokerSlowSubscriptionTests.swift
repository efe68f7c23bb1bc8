import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// `MQTTSlowSubscriptionPolicy.isolate` against a real mosquitto: a subscription nobody reads does not hold back
/// the client's other subscriptions, and nothing acknowledged is lost.
@Suite("Slow subscriptions (isolate)")
struct BrokerSlowSubscriptionTests {
    private func isolatingClient(
        _ broker: LocalBroker, _ version: MQTTProtocolVersion, capacity: Int
    ) async throws
        -> MQTTClient
    {
        try await broker.connectedClient(version) {
            $0.subscriptionBufferCapacity = capacity
            $0.slowSubscriptionPolicy = .isolate
        }
    }

    @Test(arguments: MQTTProtocolVersion.allCases)
    func atQoS0TheStalledOverflowIsDroppedAndCountedAndTheOthersFlow(version: MQTTProtocolVersion) async throws {
        // The broker must not drop QoS 0 itself (mosquitto's default queue limit is 1,000 messages per client).
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 100_000))
        defer { broker.stopNow() }
        // The 50 kept messages fit in the buffer, so their consumer cannot fall behind whatever the reads.
        let capacity = 64
        let subscriber = try await isolatingClient(broker, version, capacity: capacity)
        let publisher = try await broker.connectedClient(version)
        let stalled = try await subscriber.subscribe(to: "stalled/#", qos: .atMostOnce)
        let kept = try await subscriber.subscribe(to: "kept/#", qos: .atMostOnce)
        // The kept subscription's consumer reads all along; nobody reads the stalled one. The flood is larger than
        // one socket read can carry (NIO reads at most 4 x 64 KiB at once).
        async let reading = collect(kept, count: 50, seconds: 20)
        let flood = 3_000
        let filler = String(repeating: "x", count: 100)
        for index in 0..<flood {
            try await publisher.publish(to: "stalled/x", payload: payload("s\(index) \(filler)"), qos: .atMostOnce)
        }
        for index in 0..<50 {
            try await publisher.publish(to: "kept/x", payload: payload("k\(index)"), qos: .atMostOnce)
        }
        let messages = try await reading
        #expect(messages.map(\.payloadString) == (0..<50).map { "k\($0)" })
        // One publisher, one subscriber connection: the stalled messages all arrived before the kept ones. The
        // stream kept what came before its buffer was full at the end of a socket read, and dropped the rest.
        let buffered = stalled.bufferedCount
        #expect(buffered >= capacity && buffered < flood)
        #expect(stalled.droppedCount == flood - buffered)
        #expect(kept.droppedCount == 0)
        let first = try await collect(stalled, count: buffered)
        #expect(first.map(\.payloadString) == (0..<buffered).map { "s\($0) \(filler)" })
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// At QoS 1 and 2 the stalled subscription's messages wait with their acknowledgement withheld (within the
    /// broker's in-flight window, raised here from mosquitto's 20): the other subscription gets everything, then
    /// the stalled one does, once and in order, and the acknowledgements it released let the broker go on.
    @Test(arguments: MQTTProtocolVersion.allCases, [MQTTQoS.atLeastOnce, .exactlyOnce])
    func atQoS1And2TheStalledMessagesWaitUnacknowledgedAndNothingIsLost(
        version: MQTTProtocolVersion, qos: MQTTQoS
    ) async throws {
        let broker = try await LocalBroker.start(.init(maxInflightMessages: 1000))
        defer { broker.stopNow() }
        let subscriber = try await isolatingClient(broker, version, capacity: 16)
        let publisher = try await broker.connectedClient(version)
        let stalled = try await subscriber.subscribe(to: "stalled/#", qos: qos)
        let kept = try await subscriber.subscribe(to: "kept/#", qos: qos)
        let flood = 24  // below twice the capacity: the stream never falls back to pausing
        for index in 0..<flood {
            try await publisher.publish(to: "stalled/x", payload: payload("s\(index)"), qos: qos)
        }
        for index in 0..<40 {
            try await publisher.publish(to: "kept/x", payload: payload("k\(index)"), qos: qos)
        }
        #expect(try await collect(kept, count: 40, seconds: 20).map(\.payloadString) == (0..<40).map { "k\($0)" })
        #expect(stalled.bufferedCount == flood)
        // Those that arrived in a later socket read than the one that filled the buffer (all but a few).
        #expect(stalled.withheldCount > 0 && stalled.withheldCount <= flood - 16)
        let all = try await collect(stalled, count: flood)
        #expect(all.map(\.payloadString) == (0..<flood).map { "s\($0)" })
        #expect(stalled.withheldCount == 0 && stalled.droppedCount == 0)
        // The broker got every acknowledgement: more messages flow on both, and nothing is delivered twice.
        try await publisher.publish(to: "stalled/x", payload: payload("after"), qos: qos)
        try await publisher.publish(to: "kept/x", payload: payload("after"), qos: qos)
        #expect(try await collect(stalled, count: 1).map(\.payloadString) == ["after"])
        #expect(try await collect(kept, count: 1).map(\.payloadString) == ["after"])
        #expect(stalled.bufferedCount == 0 && kept.bufferedCount == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A stalled stream that is dropped acknowledges what it withheld: the broker's window is free again.
    @Test func droppingAStalledStreamReleasesItsWithheldAcknowledgements() async throws {
        let window = 10
        let broker = try await LocalBroker.start(.init(maxInflightMessages: window))
        defer { broker.stopNow() }
        let subscriber = try await isolatingClient(broker, .v5, capacity: 16)
        let publisher = try await broker.connectedClient(.v5)
        let kept = try await subscriber.subscribe(to: "kept/#", qos: .atLeastOnce)
        do {
            let stalled = try await subscriber.subscribe(to: "stalled/#", qos: .atLeastOnce)
            for index in 0..<40 {
                try await publisher.publish(to: "stalled/x", payload: payload("s\(index)"), qos: .atLeastOnce)
            }
            // The broker sends until the whole window waits for withheld PUBACKs (the rest queues at the broker).
            let deadline = ContinuousClock.now + .seconds(10)
            while stalled.withheldCount < window && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(stalled.withheldCount == window)
        }
        // Were the withheld PUBACKs still owed, the broker would send no QoS 1 message to this client at all.
        for index in 0..<20 {
            try await publisher.publish(to: "kept/x", payload: payload("k\(index)"), qos: .atLeastOnce)
        }
        #expect(try await collect(kept, count: 20, seconds: 20).map(\.payloadString) == (0..<20).map { "k\($0)" })
        await publisher.disconnect()
        await subscriber.disconnect()
    }
}

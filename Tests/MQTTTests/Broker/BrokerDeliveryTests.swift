import Dispatch
import LocalBroker
import NIOCore
import NIOPosix
import Testing

@testable import MQTT

@Suite(.serialized, .timeLimit(.minutes(2)))
struct BrokerDeliveryTests {
    static let qosCases: [(MQTTProtocolVersion, MQTTQoS)] = MQTTProtocolVersion.allCases.flatMap { version in
        MQTTQoS.allCases.map { (version, $0) }
    }

    @Test(arguments: qosCases)
    func deliveryAtEveryQoS(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient(version)
        let publisher = try await broker.connectedClient(version)
        let stream = try await subscriber.subscribe(to: "q/#", qos: qos)
        #expect(stream.grantedReasonCodes == [MQTTReasonCode(rawValue: qos.rawValue)])
        let count = 50
        for index in 0..<count {
            try await publisher.publish(to: "q/\(index % 3)", payload: payload("m\(index)"), qos: qos)
        }
        let messages = try await collect(stream, count: count)
        #expect(messages.map(\.payloadString) == (0..<count).map { "m\($0)" })
        #expect(messages.allSatisfy { $0.qos == qos })
        #expect(messages.map(\.topic) == (0..<count).map { "q/\($0 % 3)" })
        // Exactly once / at least once without loss: nothing more arrives.
        #expect(await collectFor(stream, seconds: 0.3).isEmpty)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// The harness's pacer publishes from its own thread without suspending: every message arrives, in order,
    /// across the connection's push-back; a client that is not connected, or shut down, refuses with a typed error.
    @Test func publishingWithoutWaitingDeliversEverythingInOrder() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let unconnected = try MQTTClient(configuration: broker.clientConfiguration())
        let early = #expect(throws: MQTTError.self) {
            _ = try unconnected.publishWithoutWaiting(to: "w/0", payload: payload("early"))
        }
        #expect(early?.code == .notConnected)
        #expect(unconnected.canPublishWithoutWaiting)
        let subscriber = try await broker.connectedClient()
        // The publisher has an event loop of its own, which the test holds busy while it publishes: the loop takes
        // no submission until the client has pushed back (a loop that keeps up would never push back).
        let publisherLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let publisher = try MQTTClient(configuration: broker.clientConfiguration(), eventLoopGroup: publisherLoop)
        try await publisher.connect()
        let stream = try await subscriber.subscribe(to: "w/#", qos: .atMostOnce)
        // More than the submissions' high-water mark in one go, so the client pushes back at least once.
        let count = PublishSubmissions.highWaterMark * 2
        var pushedBack = 0
        let loopHeld = DispatchSemaphore(value: 0)
        publisherLoop.next().execute { loopHeld.wait() }
        var released = false
        defer { if !released { loopHeld.signal() } }
        try await withThrowingTaskGroup(of: [MQTTMessage].self) { group in
            group.addTask { try await collect(stream, count: count, seconds: 30) }
            for index in 0..<count {
                if try !publisher.publishWithoutWaiting(to: "w/\(index % 4)", payload: payload("m\(index)")) {
                    pushedBack += 1
                    if !released {
                        #expect(index == PublishSubmissions.highWaterMark)
                        released = true
                        loopHeld.signal()
                    }
                    while !publisher.canPublishWithoutWaiting { try await Task.sleep(for: .milliseconds(1)) }
                }
            }
            let messages = try #require(try await group.next())
            #expect(messages.map(\.payloadString) == (0..<count).map { "m\($0)" })
        }
        #expect(pushedBack > 0)
        #expect(await collectFor(stream, seconds: 0.3).isEmpty)
        await publisher.disconnect()
        let late = #expect(throws: MQTTError.self) {
            _ = try publisher.publishWithoutWaiting(to: "w/0", payload: payload("late"))
        }
        #expect(late?.code == .clientShutDown)
        await subscriber.disconnect()
        try await publisherLoop.shutdownGracefully()
    }

    @Test(arguments: qosCases)
    func pipelinedPublishesBoundedByReceiveMaximum(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        // mosquitto's Receive Maximum is 20 here: 500 concurrent publishes must all complete.
        let broker = try await LocalBroker.start(.init(maxInflightMessages: 20))
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient(version)
        let publisher = try await broker.connectedClient(version)
        let stream = try await subscriber.subscribe(to: "p", qos: qos)
        let count = 500
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask { try await publisher.publish(to: "p", payload: payload("\(index)"), qos: qos) }
            }
            try await group.waitForAll()
        }
        let messages = try await collect(stream, count: count, seconds: 20)
        #expect(Set(messages.map(\.payloadString)) == Set((0..<count).map { "\($0)" }))
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test(arguments: MQTTProtocolVersion.allCases)
    func retainedMessages(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let publisher = try await broker.connectedClient(version)
        try await publisher.publish(to: "r/1", payload: payload("kept"), qos: .atLeastOnce, retain: true)
        let late = try await broker.connectedClient(version)
        let stream = try await late.subscribe(to: "r/#", qos: .atLeastOnce)
        let retained = try await collect(stream, count: 1)
        #expect(retained.map(\.payloadString) == ["kept"])
        #expect(retained.map(\.retain) == [true])
        // A live message is not flagged retained.
        try await publisher.publish(to: "r/1", payload: payload("live"), qos: .atLeastOnce)
        let live = try await collect(stream, count: 1)
        #expect(live.map(\.retain) == [false])
        if version == .v5 {
            // Retain handling 2: no retained messages on subscribe.
            let none = try await late.subscribe(to: "r/+", qos: .atLeastOnce, retainHandling: .doNotSend)
            #expect(await collectFor(none, seconds: 0.3).isEmpty)
        }
        // An empty retained payload clears it.
        try await publisher.publish(to: "r/1", payload: ByteBuffer(), qos: .atLeastOnce, retain: true)
        let third = try await broker.connectedClient(version)
        let cleared = try await third.subscribe(to: "r/#", qos: .atLeastOnce)
        #expect(await collectFor(cleared, seconds: 0.3).isEmpty)
        for client in [publisher, late, third] { await client.disconnect() }
    }

    @Test func noLocalAndRetainAsPublished() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let client = try await broker.connectedClient(.v5)
        let noLocal = try await client.subscribe(to: "n", qos: .atLeastOnce, noLocal: true)
        let other = try await broker.connectedClient(.v5)
        try await client.publish(to: "n", payload: payload("own"), qos: .atLeastOnce)
        try await other.publish(to: "n", payload: payload("other"), qos: .atLeastOnce)
        #expect(try await collect(noLocal, count: 1).map(\.payloadString) == ["other"])
        let rap = try await other.subscribe(to: "rap", qos: .atLeastOnce, retainAsPublished: true)
        try await client.publish(to: "rap", payload: payload("flagged"), qos: .atLeastOnce, retain: true)
        let messages = try await collect(rap, count: 1)
        #expect(messages.map(\.retain) == [true])
        await client.disconnect()
        await other.disconnect()
    }

    @Test(arguments: MQTTProtocolVersion.allCases)
    func willOnAbruptDisconnectOnly(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let watcher = try await broker.connectedClient(version)
        let wills = try await watcher.subscribe(to: "wills/#", qos: .atLeastOnce)
        var willProperties = MQTTProperties()
        if version == .v5 {
            willProperties.contentType = "text/plain"
            willProperties.userProperties = [MQTTUserProperty(name: "reason", value: "crash")]
        }
        let will = MQTTWill(
            topic: "wills/a", payload: payload("gone"), qos: .atLeastOnce, properties: willProperties)
        // A graceful disconnect does not publish the will.
        let polite = try await broker.connectedClient(version) { $0.will = will }
        await polite.disconnect()
        #expect(await collectFor(wills, seconds: 0.3).isEmpty)
        // An abrupt one does.
        let crashing = try await broker.connectedClient(version) { $0.will = will }
        await crashing.abort()
        let received = try await collect(wills, count: 1)
        #expect(received.map(\.payloadString) == ["gone"])
        if version == .v5 {
            #expect(received.first?.properties.contentType == "text/plain")
            #expect(received.first?.properties.userProperties == [MQTTUserProperty(name: "reason", value: "crash")])
            // MQTT 5: DISCONNECT with reason 0x04 asks for the will.
            let asking = try await broker.connectedClient(version) { $0.will = will }
            await asking.disconnect(reason: .disconnectWithWillMessage)
            #expect(try await collect(wills, count: 1).map(\.payloadString) == ["gone"])
        }
        await watcher.disconnect()
    }

    @Test func outgoingTopicAliases() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient(.v5)
        let stream = try await subscriber.subscribe(to: "alias/#", qos: .atLeastOnce)
        let publisher = try await broker.connectedClient(.v5)
        // mosquitto allows 10 aliases; 12 topics: 10 get one, 2 are always sent by name.
        var expected: [String] = []
        for round in 0..<3 {
            for topic in 0..<12 {
                try await publisher.publish(to: "alias/\(topic)", payload: payload("\(round)"), qos: .atLeastOnce)
                expected.append("alias/\(topic)")
            }
        }
        let messages = try await collect(stream, count: expected.count)
        #expect(messages.map(\.topic) == expected)
        let statistics = try await publisher.aliasStatistics
        #expect(statistics.assigned == 10)
        #expect(statistics.sentByAlias == 20)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func sharedSubscriptionSplitsAcrossTwoClients() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let first = try await broker.connectedClient(.v5)
        let second = try await broker.connectedClient(.v5)
        let a = try await first.subscribe(to: "$share/workers/jobs/#", qos: .atLeastOnce)
        let b = try await second.subscribe(to: "$share/workers/jobs/#", qos: .atLeastOnce)
        let publisher = try await broker.connectedClient(.v5)
        let count = 100
        for index in 0..<count {
            try await publisher.publish(to: "jobs/\(index)", payload: payload("\(index)"), qos: .atLeastOnce)
        }
        async let fromA = collectFor(a, seconds: 1.5)
        async let fromB = collectFor(b, seconds: 1.5)
        let (gotA, gotB) = await (fromA, fromB)
        #expect(!gotA.isEmpty)
        #expect(!gotB.isEmpty)
        #expect(gotA.count + gotB.count == count)
        #expect(Set((gotA + gotB).map(\.payloadString)) == Set((0..<count).map { "\($0)" }))
        for client in [first, second, publisher] { await client.disconnect() }
    }

    @Test func unsubscribeEndsTheStream() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let client = try await broker.connectedClient(.v5)
        let stream = try await client.subscribe(to: "u", qos: .atLeastOnce)
        let codes = try await client.unsubscribe(["u"])
        #expect(codes == [.success])
        try await client.publish(to: "u", payload: payload("late"), qos: .atLeastOnce)
        let rest = try await withTimeout(2, "stream end") {
            var count = 0
            for try await _ in stream { count += 1 }
            return count
        }
        #expect(rest == 0)
        let again = try await client.unsubscribe(["u"])
        #expect(again == [.noSubscriptionExisted])
        await client.disconnect()
    }

    @Test func slowConsumerPausesReadingWithoutLossAndBoundedBuffer() async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 0))
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient(.v5) { $0.subscriptionBufferCapacity = 16 }
        let stream = try await subscriber.subscribe(to: "slow", qos: .atLeastOnce)
        let publisher = try await broker.connectedClient(.v5)
        let count = 2000
        for index in 0..<count {
            try await publisher.publish(
                to: "slow", payload: ByteBuffer(repeating: UInt8(index % 256), count: 512), qos: .atLeastOnce)
        }
        try await Task.sleep(for: .milliseconds(300))
        // Reading paused: the client holds far fewer than the 2000 published messages.
        let buffered = stream.box.bufferedCount
        #expect(buffered >= 16)
        #expect(buffered < count / 2, "buffer grew to \(buffered)")
        let messages = try await collect(stream, count: count, seconds: 30)
        #expect(messages.count == count)
        #expect(
            messages.enumerated().allSatisfy {
                $0.element.payload.getInteger(at: 0, as: UInt8.self) == UInt8($0.offset % 256)
            })
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A subscription whose stream is dropped unread must not stall the others: its buffer (8 here) would fill and
    /// pause reading for the whole client. Dropped, it ends and is unsubscribed at the broker.
    @Test(arguments: MQTTProtocolVersion.allCases)
    func aDroppedStreamEndsItsSubscriptionAndStallsNothing(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient(version) { $0.subscriptionBufferCapacity = 8 }
        let publisher = try await broker.connectedClient(version)
        let kept = try await subscriber.subscribe(to: "kept/#", qos: .atLeastOnce)
        do {
            let dropped = try await subscriber.subscribe(to: "dropped/#", qos: .atLeastOnce)
            #expect(dropped.topicFilters == ["dropped/#"])
        }
        for index in 0..<100 {
            try await publisher.publish(to: "dropped/x", payload: payload("d\(index)"), qos: .atLeastOnce)
        }
        for index in 0..<50 {
            try await publisher.publish(to: "kept/x", payload: payload("k\(index)"), qos: .atLeastOnce)
        }
        let messages = try await collect(kept, count: 50, seconds: 20)
        #expect(messages.map(\.payloadString) == (0..<50).map { "k\($0)" })
        // The broker no longer has the dropped filter: nothing was delivered for it, so its QoS 1 flows never
        // waited for acknowledgements the client could not give.
        let probe = try await subscriber.subscribe(to: "dropped/#", qos: .atLeastOnce)
        try await publisher.publish(to: "dropped/x", payload: payload("after"), qos: .atLeastOnce)
        let after = try await collect(probe, count: 1)
        #expect(after.map(\.payloadString) == ["after"])
        await publisher.disconnect()
        await subscriber.disconnect()
    }
}

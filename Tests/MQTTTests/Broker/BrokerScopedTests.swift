import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// `MQTTClient.withConnection` and `withSubscription` against mosquitto. Whether the broker still holds a filter is
/// read from an MQTT 5 QoS 1 PUBACK: mosquitto answers No matching subscribers (0x10) for a topic nobody subscribes.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct BrokerScopedTests {
    struct Planned: Error {}

    @Test func withConnectionConnectsRunsTheBodyAndDisconnects() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient()
        let stream = try await subscriber.subscribe(to: "scoped/c", qos: .atLeastOnce)
        var used: MQTTClient?
        let reason = try await MQTTClient.withConnection(configuration: broker.clientConfiguration()) { client in
            used = client
            return try await client.publish(to: "scoped/c", payload: payload("inside"), qos: .atLeastOnce)
        }
        #expect(reason == .success)
        #expect(try await collect(stream, count: 1).map(\.payloadString) == ["inside"])
        // Disconnected on return: the client is shut down.
        let client = try #require(used)
        try await client.waitUntilClosed()
        let refusal = await #expect(throws: MQTTError.self) {
            try await client.publish(to: "scoped/c", payload: payload("after"), qos: .atLeastOnce)
        }
        #expect(refusal?.code == .clientShutDown)
        await subscriber.disconnect()
    }

    @Test func withConnectionDisconnectsWhenTheBodyThrows() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        var used: MQTTClient?
        await #expect(throws: Planned.self) {
            try await MQTTClient.withConnection(configuration: broker.clientConfiguration()) { client in
                used = client
                throw Planned()
            }
        }
        let client = try #require(used)
        let refusal = await #expect(throws: MQTTError.self) {
            try await client.publish(to: "scoped/t", payload: payload("after"), qos: .atLeastOnce)
        }
        #expect(refusal?.code == .clientShutDown)
    }

    @Test func withConnectionReportsAConnectFailure() async throws {
        let broker = try await LocalBroker.start(.init(users: [LocalBroker.User("alice", password: "a")]))
        defer { broker.stopNow() }
        let configuration = broker.clientConfiguration(username: "alice", password: "wrong")
        var ran = false
        let error = await #expect(throws: MQTTError.self) {
            try await MQTTClient.withConnection(configuration: configuration) { _ in ran = true }
        }
        #expect(error?.code == .connectionRefused)
        #expect(!ran)
    }

    @Test func withSubscriptionEndsTheSubscriptionAtTheBroker() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient()
        let publisher = try await broker.connectedClient()
        let received = try await subscriber.withSubscription(to: "scoped/s/#", qos: .atLeastOnce) { messages in
            for index in 0..<5 {
                let reason = try await publisher.publish(
                    to: "scoped/s/\(index)", payload: payload("m\(index)"), qos: .atLeastOnce)
                #expect(reason == .success)
            }
            var payloads: [String] = []
            for try await message in messages {
                payloads.append(message.payloadString)
                if payloads.count == 3 { break }
            }
            return payloads
        }
        #expect(received == ["m0", "m1", "m2"])
        // The UNSUBACK came before withSubscription returned: the broker has no subscriber for the filter.
        let after = try await publisher.publish(to: "scoped/s/9", payload: payload("after"), qos: .atLeastOnce)
        #expect(after == .noMatchingSubscribers)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func withSubscriptionEndsTheSubscriptionWhenTheBodyThrows() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient()
        let publisher = try await broker.connectedClient()
        await #expect(throws: Planned.self) {
            try await subscriber.withSubscription(to: "scoped/e", qos: .atLeastOnce) { _ in
                let reason = try await publisher.publish(to: "scoped/e", payload: payload("x"), qos: .atLeastOnce)
                #expect(reason == .success)
                throw Planned()
            }
        }
        // The UNSUBACK came before the error was rethrown.
        let after = try await publisher.publish(to: "scoped/e", payload: payload("after"), qos: .atLeastOnce)
        #expect(after == .noMatchingSubscribers)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func withSubscriptionKeepsAFilterAnotherStreamStillUses() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient()
        let publisher = try await broker.connectedClient()
        let kept = try await subscriber.subscribe(to: "scoped/k", qos: .atLeastOnce)
        let inside = try await subscriber.withSubscription(to: "scoped/k", qos: .atLeastOnce) { messages in
            try await publisher.publish(to: "scoped/k", payload: payload("both"), qos: .atLeastOnce)
            return try await collect(messages, count: 1).map(\.payloadString)
        }
        #expect(inside == ["both"])
        let after = try await publisher.publish(to: "scoped/k", payload: payload("kept"), qos: .atLeastOnce)
        #expect(after == .success)
        #expect(try await collect(kept, count: 2).map(\.payloadString) == ["both", "kept"])
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func withSubscriptionOnAClientShutDownInsideTheBodyIsNotAnError() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient()
        let ended = try await subscriber.withSubscription(to: "scoped/d", qos: .atLeastOnce) { messages in
            await subscriber.disconnect()
            var count = 0
            for try await _ in messages { count += 1 }
            return count
        }
        #expect(ended == 0)
    }

    @Test func withSubscriptionReportsARefusedFilter() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient()
        var ran = false
        let error = await #expect(throws: MQTTError.self) {
            try await subscriber.withSubscription(to: "bad/#/filter") { _ in ran = true }
        }
        #expect(error?.code == .invalidTopic)
        #expect(!ran)
        await subscriber.disconnect()
    }
}

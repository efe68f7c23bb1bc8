import LocalBroker
import MQTT
import NIOCore
import Testing

@Suite(.serialized, .timeLimit(.minutes(2)))
struct BrokerAccessTests {
    static let acl = LocalBroker.ACL(users: [
        "alice": [.init(.readwrite, "open/#"), .init(.read, "readonly/#")],
        "bob": [.init(.readwrite, "#")],
    ])
    static let users = [LocalBroker.User("alice", password: "a"), LocalBroker.User("bob", password: "b")]

    @Test(arguments: MQTTProtocolVersion.allCases)
    func publishToADeniedTopic(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start(.init(users: Self.users, acl: Self.acl))
        defer { broker.stopNow() }
        let bob = try MQTTClient(configuration: broker.clientConfiguration(version, username: "bob", password: "b"))
        try await bob.connect()
        let everything = try await bob.subscribe(to: "#", qos: .atLeastOnce)
        let alice = try MQTTClient(configuration: broker.clientConfiguration(version, username: "alice", password: "a"))
        try await alice.connect()
        // What mosquitto 2.0.11 really does with a denied QoS 1 publish: in MQTT 3.1.1 it acknowledges
        // (PUBACK has no reason code) and drops the message; in MQTT 5 the PUBACK carries 0x87.
        switch version {
        case .v311:
            let code = try await alice.publish(to: "readonly/x", payload: payload("denied"), qos: .atLeastOnce)
            #expect(code == .success)
        case .v5:
            let error = await #expect(throws: MQTTError.self) {
                try await alice.publish(to: "readonly/x", payload: payload("denied"), qos: .atLeastOnce)
            }
            #expect(error?.code == .publishFailed)
            #expect(error?.reasonCode == .notAuthorized)
        }
        // QoS 0 to a denied topic: silently dropped in both versions.
        try await alice.publish(to: "readonly/y", payload: payload("denied0"))
        try await alice.publish(to: "open/x", payload: payload("allowed"), qos: .atLeastOnce)
        let received = try await collect(everything, count: 1)
        #expect(received.map(\.payloadString) == ["allowed"])
        #expect(await collectFor(everything, seconds: 0.3).isEmpty)
        #expect(await alice.isConnected)
        await alice.disconnect()
        await bob.disconnect()
    }

    @Test(arguments: [(MQTTProtocolVersion.v5, MQTTReasonCode.notAuthorized), (.v311, .unspecifiedError)])
    func subscriptionDeniedGivesTheFailureCode(version: MQTTProtocolVersion, expected: MQTTReasonCode) async throws {
        // mosquitto's ACL file never refuses a SUBSCRIBE; the dynamic-security plugin does.
        let broker = try await LocalBroker.start(.init(anonymousDeniedTopics: ["secret/#"]))
        defer { broker.stopNow() }
        let client = try await broker.connectedClient(version)
        let error = await #expect(throws: MQTTError.self) {
            _ = try await client.subscribe(to: "secret/plans", qos: .atLeastOnce)
        }
        #expect(error?.code == .subscriptionFailed)
        #expect(error?.reasonCode == expected)
        // The connection stays usable.
        let stream = try await client.subscribe(to: "public/#", qos: .atLeastOnce)
        try await client.publish(to: "public/x", payload: payload("ok"), qos: .atLeastOnce)
        #expect(try await collect(stream, count: 1).map(\.payloadString) == ["ok"])
        await client.disconnect()
    }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct BrokerInteropTests {
    @Test(arguments: ["mqttv5", "mqttv311"])
    func mosquittoPubToOurSubscriberAtQoS2(cliVersion: String) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let client = try await broker.connectedClient(.v5)
        let stream = try await client.subscribe(to: "interop/#", qos: .exactlyOnce)
        for index in 0..<5 {
            let result = try await broker.publishWithCLI(
                topic: "interop/\(index)", message: "from mosquitto_pub \(index)",
                options: .init(protocolVersion: cliVersion, qos: 2))
            #expect(result.exitStatus == 0, "\(result.output)")
        }
        let messages = try await collect(stream, count: 5)
        #expect(messages.map(\.payloadString) == (0..<5).map { "from mosquitto_pub \($0)" })
        #expect(messages.allSatisfy { $0.qos == .exactlyOnce })
        #expect(await collectFor(stream, seconds: 0.3).isEmpty)
        await client.disconnect()
    }

    @Test(arguments: MQTTProtocolVersion.allCases)
    func ourPublisherToMosquittoSubAtQoS2(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.subscribeWithCLI(
            topic: "interop/#", count: 5, options: .init(qos: 2, extraArguments: ["-v"]))
        let client = try await broker.connectedClient(version)
        for index in 0..<5 {
            let code = try await client.publish(
                to: "interop/\(index)", payload: payload("from swift \(index)"), qos: .exactlyOnce)
            #expect(code == .success)
        }
        let result = await subscriber.wait(timeout: .seconds(15))
        #expect(result.exitStatus == 0, "\(result.output)")
        #expect(subscriber.messages.map(\.payload) == (0..<5).map { "from swift \($0)" })
        #expect(subscriber.messages.map(\.topic) == (0..<5).map { "interop/\($0)" })
        await client.disconnect()
    }
}

import MQTT
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Broker misbehaviour a real mosquitto will not produce on demand: a QoS 2 PUBLISH answered with PUBACK (as
/// RabbitMQ does), and a broker that drops every connection right after CONNACK (a crashed broker replaying a
/// stale session).
@Suite(.serialized, .timeLimit(.minutes(1)))
struct ClientRecoveryTests {
    func configuration(port: Int) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(
            host: "127.0.0.1", port: port, protocolVersion: .v5, clientID: "recovery")
        configuration.reconnect = .disabled
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    @Test func qos2PublishAnsweredWithPubAckEndsWithATypedError() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try MQTTClient(configuration: configuration(port: broker.port))
        async let connected = client.connect()
        let connection = try await broker.nextConnection()
        _ = try await connection.accept()
        _ = try await connected

        let downgraded = Task {
            try await client.publish(to: "q2", payload: ByteBuffer(string: "x"), qos: .exactlyOnce)
        }
        guard case .publish(let publish) = try await connection.nextPacket(), let id = publish.packetIdentifier else {
            Issue.record("expected PUBLISH")
            return
        }
        try await connection.send(.puback(MQTTPubAck(packetIdentifier: id)))
        let error = await #expect(throws: MQTTError.self) {
            try await withTimeout(10, "QoS 2 publish answered with PUBACK") { try await downgraded.value }
        }
        #expect(error?.code == .qosDowngraded)

        // The packet id and the send window are free again: the next publish completes.
        let next = Task { try await client.publish(to: "q1", payload: ByteBuffer(string: "y"), qos: .atLeastOnce) }
        guard case .publish(let second) = try await connection.nextPacket(), let secondID = second.packetIdentifier
        else {
            Issue.record("expected a second PUBLISH")
            return
        }
        try await connection.send(.puback(MQTTPubAck(packetIdentifier: secondID)))
        #expect(try await withTimeout(10, "QoS 1 publish") { try await next.value } == .success)
        await client.disconnect()
    }

    /// The broker sends messages over the client's maximum packet size anyway (ejabberd ignores the announced
    /// limit): each is skipped with an error, acknowledged with a failure code so it is not resent, and the connection
    /// and the messages around it survive. The oversized PUBLISH arrives in pieces, as over a real socket.
    @Test func oversizedPublishIsSkippedAndTheConnectionKept() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        var configuration = configuration(port: broker.port)
        configuration.maximumPacketSize = 1024
        let client = try MQTTClient(configuration: configuration)
        async let connected = client.connect()
        let connection = try await broker.nextConnection()
        let connect = try await connection.accept()
        _ = try await connected
        #expect(connect.properties.maximumPacketSize == 1024)
        async let subscribed = client.subscribe(to: "big/#", qos: .atLeastOnce)
        guard case .subscribe(let subscribe) = try await connection.nextPacket() else {
            Issue.record("expected SUBSCRIBE")
            return
        }
        try await connection.send(
            .suback(MQTTSubAck(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.grantedQoS1])))
        let stream = try await subscribed

        var oversized = ByteBuffer()
        try MQTTPacket.publish(
            MQTTPublish(
                topic: "big/1", payload: ByteBuffer(repeating: 1, count: 5000), qos: .atLeastOnce, packetIdentifier: 7)
        ).encode(into: &oversized, version: .v5)
        let bytes = Array(oversized.readableBytesView)
        for range in [0..<3, 3..<9, 9..<2000, 2000..<bytes.count] {
            try await connection.send(raw: Array(bytes[range]))
        }
        try await connection.send(
            .publish(
                MQTTPublish(
                    topic: "big/2", payload: ByteBuffer(string: "small"), qos: .atLeastOnce, packetIdentifier: 8)))
        try await connection.send(.publish(MQTTPublish(topic: "big/3", payload: ByteBuffer(repeating: 3, count: 3000))))
        try await connection.send(.publish(MQTTPublish(topic: "big/4", payload: ByteBuffer(string: "tiny"))))

        #expect(
            try await connection.nextPacket() == .puback(MQTTPubAck(packetIdentifier: 7, reasonCode: .unspecifiedError))
        )
        #expect(try await connection.nextPacket() == .puback(MQTTPubAck(packetIdentifier: 8)))
        let messages = try await collect(stream, count: 2, seconds: 10)
        #expect(messages.map(\.topic) == ["big/2", "big/4"])
        #expect(await client.oversizedMessagesSkipped == 2)
        #expect(await client.isConnected)
        await client.disconnect()
    }

    /// Every connection is accepted and dropped at once. The backoff must not start over at each CONNACK: the
    /// client gives up after `maximumAttempts` reconnects instead of hammering the broker forever.
    @Test func connectionsDroppedRightAfterConnAckKeepBackingOff() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        var configuration = configuration(port: broker.port)
        configuration.reconnect = MQTTReconnectPolicy(
            initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100), jitter: 0, maximumAttempts: 4)
        let client = try MQTTClient(configuration: configuration)
        let accepted = NIOLockedValueBox(0)
        let dropper = Task {
            // Bounded: at most 50 connections, each accepted and closed.
            for _ in 0..<50 {
                guard let connection = try? await broker.nextConnection() else { return }
                _ = try? await connection.accept()
                accepted.withLockedValue { $0 += 1 }
                try? await connection.channel.close()
            }
        }
        _ = try await client.connect()
        let error = await #expect(throws: MQTTError.self) {
            try await withTimeout(30, "the client gives up") { try await client.waitUntilClosed() }
        }
        dropper.cancel()
        #expect(error?.code == .reconnectLimitReached)
        // The first connection and four reconnects, each accepted and dropped.
        #expect(accepted.withLockedValue { $0 } == 5)
    }
}

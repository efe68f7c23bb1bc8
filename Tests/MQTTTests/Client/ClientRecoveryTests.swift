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

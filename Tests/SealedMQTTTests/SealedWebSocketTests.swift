import LocalBroker
import MQTT
import Seal
import SealKeyring
import SealedMQTT
import Testing

/// Sealed pub/sub over MQTT-over-WebSocket: the publisher on `wss://` with a client certificate, the subscriber on
/// `ws://`, against RabbitMQ 3.10's `rabbitmq_web_mqtt` (MQTT 3.1.1).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SealedWebSocketTests {
    @Test func sealedStreamOverWebSockets() async throws {
        let rabbit = try await LocalRabbitMQ.start(webMQTT: true)
        do {
            try await run(rabbit)
        } catch {
            await rabbit.stop()
            throw error
        }
        await rabbit.stop()
    }

    private func run(_ rabbit: LocalRabbitMQ) async throws {
        let certificates = try #require(rabbit.certificates)
        var kid: UInt32 = 0
        var sid: UInt32 = 0
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            kid = try addPrimary(&keyring, scope: ["ws/#"])
            sid = try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["ws/#"]))
        }
        let policy = try SealedPolicy(rules: [
            "ws/signed/#": .signed(by: [sid]), "ws/#": SealedTopicPolicy(signing: .never),
        ])
        func sealedClient(_ id: String, secure: Bool) async throws -> SealedMQTTClient {
            var mqtt = MQTTClientConfiguration(
                host: rabbit.host, port: try #require(secure ? rabbit.secureWebSocketPort : rabbit.webSocketPort),
                protocolVersion: .v311, clientID: id)
            mqtt.webSocket = MQTTWebSocketOptions(path: rabbit.webSocketPath)
            if secure {
                mqtt.tls = MQTTTLSOptions(
                    caFile: certificates.caFile, certificateFile: certificates.clientCert,
                    privateKeyFile: certificates.clientKey)
            }
            mqtt.connectTimeout = .seconds(10)
            mqtt.requestTimeout = .seconds(10)
            mqtt.reconnect = .disabled
            let client = try SealedMQTTClient(
                mqtt: mqtt, keys: try keys.watcher(), configuration: SealedMQTTConfiguration(policy: policy))
            try await client.connect()
            return client
        }
        let subscriber = try await sealedClient("sealed-ws-sub", secure: false)
        let stream = try await subscriber.subscribe(to: "ws/#", qos: .atLeastOnce)
        let publisher = try await sealedClient("sealed-wss-pub", secure: true)
        let count = 200
        for index in 0..<count {
            let topic = index % 2 == 0 ? "ws/plain" : "ws/signed/x"
            try await publisher.publish(to: topic, payload: bytes("reading \(index)"), qos: .atLeastOnce)
        }
        let messages = try await collect(stream, count: count, seconds: 60)
        #expect(Set(messages.map(\.payloadString)) == Set((0..<count).map { "reading \($0)" }))
        #expect(messages.allSatisfy { !$0.isPlaintext && $0.keyID == kid })
        #expect(
            messages.filter { $0.topic == "ws/signed/x" }.allSatisfy { $0.mode == .encryptAndSign && $0.signer == sid })
        #expect(messages.filter { $0.topic == "ws/plain" }.allSatisfy { $0.mode == .encrypt })
        let statistics = await subscriber.statistics
        #expect(statistics.rejected == 0 && statistics.duplicates == 0 && statistics.plaintext == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }
}

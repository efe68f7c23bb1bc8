import LocalBroker
import MQTT
import Seal
import SealKeyring
import SealedMQTT
import Testing

/// Sealed pub/sub across a two-node RabbitMQ 3.10 cluster (issue 12's broker matrix): the publisher on node 1, the
/// subscriber on node 2, encrypted and signed, MQTT 3.1.1 (RabbitMQ 3.10 has no MQTT 5).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SealedClusterTests {
    @Test func signedStreamAcrossClusterNodes() async throws {
        let cluster = try await LocalRabbitMQCluster.start()
        do {
            var sid: UInt32 = 0
            var kid: UInt32 = 0
            let keys = try KeyringFixture { keyring throws(KeyringError) in
                kid = try addPrimary(&keyring, scope: ["cluster/#"])
                sid = try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["cluster/#"]))
            }
            let policy = try SealedPolicy(rules: ["cluster/#": .signed(by: [sid])])
            func sealedClient(_ id: String, node: Int) async throws -> SealedMQTTClient {
                var mqtt = MQTTClientConfiguration(
                    host: cluster.host, port: cluster.nodes[node].mqttPort, protocolVersion: .v311, clientID: id)
                mqtt.connectTimeout = .seconds(10)
                mqtt.requestTimeout = .seconds(10)
                mqtt.reconnect = .disabled
                let client = try SealedMQTTClient(
                    mqtt: mqtt, keys: try keys.watcher(), configuration: SealedMQTTConfiguration(policy: policy))
                try await client.connect()
                return client
            }
            let subscriber = try await sealedClient("sealed-node2", node: 1)
            let stream = try await subscriber.subscribe(to: "cluster/#", qos: .atLeastOnce)
            let publisher = try await sealedClient("sealed-node1", node: 0)
            let count = 1_000
            for index in 0..<count {
                try await publisher.publish(
                    to: "cluster/\(index % 4)", payload: bytes("reading \(index)"), qos: .atLeastOnce)
            }
            let messages = try await collect(stream, count: count, seconds: 60)
            #expect(Set(messages.map(\.payloadString)) == Set((0..<count).map { "reading \($0)" }))
            #expect(messages.allSatisfy { !$0.isPlaintext && $0.mode == .encryptAndSign })
            #expect(messages.allSatisfy { $0.keyID == kid && $0.signer == sid })
            try await eventually(10, "statistics") { await subscriber.statistics.delivered == count }
            let statistics = await subscriber.statistics
            #expect(statistics.rejected == 0 && statistics.duplicates == 0 && statistics.plaintext == 0)
            #expect(await publisher.statistics.published == count)
            await publisher.disconnect()
            await subscriber.disconnect()
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}

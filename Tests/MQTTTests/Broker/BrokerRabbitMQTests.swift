import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// The client against RabbitMQ 3.10 (`rabbitmq_mqtt`, MQTT 3.1.1), a broker that downgrades QoS 2 to QoS 1.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BrokerRabbitMQTests {
    @Test func qos2DowngradeSurfacesAndQoS1LosesNothing() async throws {
        let rabbit = try await LocalRabbitMQ.start()
        func client(_ id: String) async throws -> MQTTClient {
            var configuration = MQTTClientConfiguration(
                host: rabbit.host, port: rabbit.mqttPort, protocolVersion: .v311, clientID: id)
            configuration.connectTimeout = .seconds(10)
            configuration.requestTimeout = .seconds(10)
            configuration.reconnect = .disabled
            let client = try MQTTClient(configuration: configuration)
            try await client.connect()
            return client
        }
        do {
            let subscriber = try await client("rabbit-sub")
            let stream = try await subscriber.subscribe(to: "rabbit/#", qos: .exactlyOnce)
            let publisher = try await client("rabbit-pub")

            // QoS 2 is answered with PUBACK: the publish ends with a typed error instead of hanging; the message
            // arrives once, at QoS 1.
            let error = await #expect(throws: MQTTError.self) {
                try await withTimeout(20, "QoS 2 publish to RabbitMQ") {
                    try await publisher.publish(to: "rabbit/q2", payload: ByteBuffer(string: "two"), qos: .exactlyOnce)
                }
            }
            #expect(error?.code == .qosDowngraded)
            let downgraded = try await collect(stream, count: 1, seconds: 20)
            #expect(downgraded.first?.payloadString == "two")
            #expect(downgraded.first?.qos == .atLeastOnce)

            // The send window is not wedged: 500 pipelined QoS 1 publishes all arrive.
            let total = 500
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<total {
                    group.addTask {
                        try await publisher.publish(
                            to: "rabbit/q1", payload: ByteBuffer(string: "\(index)"), qos: .atLeastOnce)
                    }
                }
                try await group.waitForAll()
            }
            let messages = try await collect(stream, count: total, seconds: 60)
            #expect(Set(messages.map(\.payloadString)) == Set((0..<total).map { "\($0)" }))
            await publisher.disconnect()
            await subscriber.disconnect()
        } catch {
            await rabbit.stop()
            throw error
        }
        await rabbit.stop()
    }
}

import LocalBroker
import Logging
import MQTT
import NIOCore
import ServiceLifecycle
import Testing

@Suite(.serialized, .timeLimit(.minutes(1)))
struct BrokerServiceTests {
    @Test func clientRunsInAServiceGroupAndDisconnectsOnGracefulShutdown() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        var configuration = broker.clientConfiguration(.v5)
        configuration.will = MQTTWill(topic: "service/will", payload: payload("crashed"))
        let client = try MQTTClient(configuration: configuration)
        let watcher = try await broker.connectedClient(.v5)
        let wills = try await watcher.subscribe(to: "service/#")
        let group = ServiceGroup(
            configuration: .init(services: [client], logger: Logger(label: "test.service-group")))
        let running = Task { try await group.run() }
        try await eventually(5, "connected") { await client.isConnected }
        try await client.publish(to: "service/up", payload: payload("up"))
        #expect(try await collect(wills, count: 1).map(\.topic) == ["service/up"])
        await group.triggerGracefulShutdown()
        try await withTimeout(5, "service group ends") { try await running.value }
        #expect(await !client.isConnected)
        // Graceful: DISCONNECT was sent, so the will was not published.
        #expect(await collectFor(wills, seconds: 0.3).isEmpty)
        await watcher.disconnect()
    }
}

import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// MQTT over WebSocket (`ws://`, `wss://` with a client certificate) against RabbitMQ 3.10's `rabbitmq_web_mqtt`
/// (Debian's mosquitto has no working WebSocket listener). One node for every check: it takes 10-30 s to start.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BrokerWebSocketTests {
    @Test func pubSubOverWebSocketsPlainAndTLS() async throws {
        let rabbit = try await LocalRabbitMQ.start(webMQTT: true)
        do {
            try await checks(rabbit)
        } catch {
            await rabbit.stop()
            throw error
        }
        await rabbit.stop()
    }

    private func checks(_ rabbit: LocalRabbitMQ) async throws {
        let certificates = try #require(rabbit.certificates)
        let plain = try #require(rabbit.webSocketPort)
        let secure = try #require(rabbit.secureWebSocketPort)
        func configuration(_ id: String, port: Int, path: String = rabbit.webSocketPath) -> MQTTClientConfiguration {
            var configuration = MQTTClientConfiguration(
                host: rabbit.host, port: port, protocolVersion: .v311, clientID: id)
            configuration.webSocket = MQTTWebSocketOptions(path: path)
            configuration.connectTimeout = .seconds(10)
            configuration.requestTimeout = .seconds(10)
            configuration.reconnect = .disabled
            return configuration
        }
        func withClientCertificate(_ base: MQTTClientConfiguration) -> MQTTClientConfiguration {
            var configuration = base
            configuration.tls = MQTTTLSOptions(
                caFile: certificates.caFile, certificateFile: certificates.clientCert,
                privateKeyFile: certificates.clientKey)
            return configuration
        }

        // ws:// and wss:// (client certificate) in both directions: the subscriber on one, the publisher on the
        // other, QoS 0 and 1, and a 1 MiB payload that takes more than one TCP segment and WebSocket read.
        let subscriber = try MQTTClient(configuration: configuration("ws-sub", port: plain))
        try await subscriber.connect()
        let publisher = try MQTTClient(configuration: withClientCertificate(configuration("wss-pub", port: secure)))
        try await publisher.connect()
        let stream = try await subscriber.subscribe(to: "ws/#", qos: .atLeastOnce)
        let count = 200
        for index in 0..<count {
            try await publisher.publish(
                to: "ws/\(index % 2)", payload: ByteBuffer(string: "m\(index)"),
                qos: index % 2 == 0 ? .atMostOnce : .atLeastOnce)
        }
        let large = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try await publisher.publish(to: "ws/large", payload: large, qos: .atLeastOnce)
        let messages = try await collect(stream, count: count + 1, seconds: 30)
        // MQTT orders messages per topic (here also per QoS), not across them.
        for topic in 0..<2 {
            #expect(
                messages.filter { $0.topic == "ws/\(topic)" }.map(\.payloadString)
                    == stride(from: topic, to: count, by: 2).map { "m\($0)" })
        }
        #expect(messages.last?.payload == large)
        let back = try await publisher.subscribe(to: "back", qos: .atLeastOnce)
        try await subscriber.publish(to: "back", payload: ByteBuffer(string: "reply"), qos: .atLeastOnce)
        #expect(try await collect(back, count: 1, seconds: 20).map(\.payloadString) == ["reply"])
        #expect(await collectFor(stream, seconds: 0.3).isEmpty)
        await publisher.disconnect()
        await subscriber.disconnect()

        // wss:// without a client certificate: the TLS listener requires one.
        var anonymous = configuration("wss-anonymous", port: secure)
        anonymous.tls = MQTTTLSOptions(caFile: certificates.caFile)
        let refused = await #expect(throws: MQTTError.self) { try await MQTTClient(configuration: anonymous).connect() }
        #expect(refused?.code == .tlsFailure)

        // wss:// to a server certificate the CA file does not trust.
        var untrusted = withClientCertificate(configuration("wss-untrusted", port: secure))
        untrusted.tls?.caFile = certificates.wrongCAFile
        let distrusted = await #expect(throws: MQTTError.self) {
            try await MQTTClient(configuration: untrusted).connect()
        }
        #expect(distrusted?.code == .tlsFailure)

        // A path the broker does not serve: the HTTP refusal in one sentence.
        let wrongPath = configuration("ws-wrong-path", port: plain, path: "/nothing-here")
        let notFound = await #expect(throws: MQTTError.self) {
            try await MQTTClient(configuration: wrongPath).connect()
        }
        #expect(notFound?.code == .connectionClosed)
        #expect(
            notFound?.description.contains("refused the WebSocket upgrade: HTTP 404") == true,
            "\(String(describing: notFound))")

        // WebSocket to the plain MQTT port: the answer is not HTTP.
        let notHTTP = configuration("ws-to-mqtt", port: rabbit.mqttPort)
        let garbled = await #expect(throws: MQTTError.self) { try await MQTTClient(configuration: notHTTP).connect() }
        #expect(garbled?.code == .connectionClosed)
    }
}

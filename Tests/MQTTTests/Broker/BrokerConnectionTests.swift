import LocalBroker
import MQTT
import NIOCore
import Testing

@Suite(.serialized, .timeLimit(.minutes(2)))
struct BrokerConnectionTests {
    @Test(arguments: [MQTTProtocolVersion.v311, .v5])
    func plainConnectPublishSubscribe(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let client = try await broker.connectedClient(version)
        #expect(await client.isConnected)
        let stream = try await client.subscribe(to: "a/+", qos: .atLeastOnce)
        try await client.publish(to: "a/b", payload: payload("hello"), qos: .atLeastOnce)
        let messages = try await collect(stream, count: 1)
        #expect(messages.map(\.topic) == ["a/b"])
        #expect(messages.map(\.payloadString) == ["hello"])
        await client.disconnect()
        #expect(await !client.isConnected)
    }

    private func tlsConfiguration(_ broker: LocalBroker, port: Int, tls: MQTTTLSOptions) -> MQTTClientConfiguration {
        var configuration = broker.clientConfiguration()
        configuration.port = port
        configuration.tls = tls
        return configuration
    }

    @Test func tlsAndMutualTLS() async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let certificates = try #require(broker.certificates)
        // Server authentication, host name checked against the IP SAN (127.0.0.1).
        let tls = try MQTTClient(
            configuration: tlsConfiguration(broker, port: broker.tlsPort!, tls: .init(caFile: certificates.caFile)))
        try await tls.connect()
        let stream = try await tls.subscribe(to: "secure", qos: .exactlyOnce)
        try await tls.publish(to: "secure", payload: payload("over tls"), qos: .exactlyOnce)
        #expect(try await collect(stream, count: 1).map(\.payloadString) == ["over tls"])
        await tls.disconnect()
        // By DNS name (SNI localhost).
        var byName = tlsConfiguration(broker, port: broker.tlsPort!, tls: .init(caFile: certificates.caFile))
        byName.host = "localhost"
        let named = try MQTTClient(configuration: byName)
        try await named.connect()
        await named.disconnect()
        // Mutual TLS.
        let mtls = try MQTTClient(
            configuration: tlsConfiguration(
                broker, port: broker.mtlsPort!,
                tls: .init(
                    caFile: certificates.caFile, certificateFile: certificates.clientCert,
                    privateKeyFile: certificates.clientKey)))
        try await mtls.connect()
        try await mtls.publish(to: "x", payload: payload("m"), qos: .atLeastOnce)
        await mtls.disconnect()
    }

    private func expectRefused(
        _ label: String, _ configuration: MQTTClientConfiguration, codes: Set<MQTTError.Code>
    ) async throws {
        let client = try MQTTClient(configuration: configuration)
        let error = await #expect(throws: MQTTError.self, "\(label)") { try await client.connect() }
        if let error { #expect(codes.contains(error.code), "\(label): \(error)") }
        #expect(await !client.isConnected)
    }

    @Test func tlsRefusals() async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let certificates = try #require(broker.certificates)
        // Wrong CA.
        try await expectRefused(
            "wrong CA",
            tlsConfiguration(broker, port: broker.tlsPort!, tls: .init(caFile: certificates.wrongCAFile)),
            codes: [.tlsFailure])
        // Wrong host name: the certificate names only wrong.invalid.
        try await expectRefused(
            "mismatched certificate",
            tlsConfiguration(broker, port: broker.mismatchedHostPort!, tls: .init(caFile: certificates.caFile)),
            codes: [.tlsFailure])
        // (A name not in the SAN on the normal listener is not a mismatch test: NIOSSL also accepts the
        // certificate's IP SAN 127.0.0.1 for the socket address, so the dedicated listener is used above.)
        // The explicit insecure option accepts the mismatched name.
        let insecure = try MQTTClient(
            configuration: tlsConfiguration(
                broker, port: broker.mismatchedHostPort!,
                tls: .insecureWithoutHostnameVerification(caFile: certificates.caFile)))
        try await insecure.connect()
        await insecure.disconnect()
        // mTLS without a client certificate, and with one from the wrong CA.
        try await expectRefused(
            "mTLS without client certificate",
            tlsConfiguration(broker, port: broker.mtlsPort!, tls: .init(caFile: certificates.caFile)),
            codes: [.tlsFailure, .connectionClosed])
        try await expectRefused(
            "mTLS with wrong-CA client certificate",
            tlsConfiguration(
                broker, port: broker.mtlsPort!,
                tls: .init(
                    caFile: certificates.caFile, certificateFile: certificates.wrongClientCert,
                    privateKeyFile: certificates.wrongClientKey)),
            codes: [.tlsFailure, .connectionClosed])
    }

    @Test(arguments: [MQTTProtocolVersion.v311, .v5])
    func passwordGoodAndBad(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start(.init(users: [.init("alice", password: "right")]))
        defer { broker.stopNow() }
        let good = try MQTTClient(
            configuration: broker.clientConfiguration(version, username: "alice", password: "right"))
        try await good.connect()
        await good.disconnect()
        for (user, password) in [("alice", "wrong"), ("mallory", "right")] {
            let bad = try MQTTClient(
                configuration: broker.clientConfiguration(version, username: user, password: password))
            let error = await #expect(throws: MQTTError.self) { try await bad.connect() }
            #expect(error?.code == .connectionRefused)
            // What mosquitto 2.0.11 really answers: MQTT 5 reason 0x87 Not Authorized (not 0x86), and
            // 3.1.1 return code 5 (not authorized), which maps to the same 0x87.
            #expect(error?.reasonCode == .notAuthorized, "\(String(describing: error))")
        }
        let anonymous = try MQTTClient(configuration: broker.clientConfiguration(version))
        let error = await #expect(throws: MQTTError.self) { try await anonymous.connect() }
        #expect(error?.code == .connectionRefused)
    }

    @Test func invalidTopicsAndOversizedPayloadsAreRefusedBeforeSending() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let client = try await broker.connectedClient { $0.maximumPacketSize = 1024 }
        let spy = try await client.subscribe(to: "#")
        for topic in ["", "a/+", "a/#", "a\u{0}b"] {
            let error = await #expect(throws: MQTTError.self) {
                try await client.publish(to: topic, payload: payload("x"))
            }
            #expect(error?.code == .invalidTopic, "\(topic)")
        }
        let large = await #expect(throws: MQTTError.self) {
            try await client.publish(to: "big", payload: ByteBuffer(repeating: 1, count: 2048))
        }
        #expect(large?.code == .packetTooLarge)
        for filter in ["a/#/b", "a+", "$share/g", ""] {
            let error = await #expect(throws: MQTTError.self) { _ = try await client.subscribe(to: filter) }
            #expect(error?.code == .invalidTopic, "\(filter)")
        }
        // Nothing was sent: the wildcard subscriber saw nothing, and the connection is still fine.
        try await client.publish(to: "ok", payload: payload("fine"), qos: .atLeastOnce)
        #expect(try await collect(spy, count: 1).map(\.topic) == ["ok"])
        await client.disconnect()
    }
}

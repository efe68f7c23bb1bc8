import LocalBroker
import MQTT
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP connection to 127.0.0.1 with a receive timeout, speaking packets through the codec
/// only (no client): what the broker accepts and answers checks the encoder and decoder against a
/// real MQTT implementation no one here wrote.
private final class RawConnection {
    enum Failure: Error { case socket(String) }

    private let fd: Int32
    private var received = ByteBuffer()
    private var decoder: MQTTPacketDecoder
    let version: MQTTProtocolVersion

    init(port: Int, version: MQTTProtocolVersion) throws {
        self.version = version
        self.decoder = MQTTPacketDecoder(version: version)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.socket("socket: \(errno)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else {
            close(fd)
            throw Failure.socket("connect: \(errno)")
        }
    }

    deinit {
        close(fd)
    }

    func send(_ packet: MQTTPacket) throws {
        var out = ByteBuffer()
        try packet.encode(into: &out, version: version)
        try sendRaw(Array(out.readableBytesView))
    }

    func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard sent > 0 else { throw Failure.socket("send: \(errno)") }
            offset += sent
        }
    }

    /// The next packet, or nil when the broker closed the connection; throws on timeout.
    func receive() throws -> MQTTPacket? {
        while true {
            if let packet = try decoder.decode(buffer: &received) {
                return packet
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return nil }
            guard count > 0 else { throw Failure.socket("recv: \(errno) (timeout?)") }
            received.writeBytes(chunk[..<count])
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct CodecBrokerTests {
    @Test(arguments: MQTTProtocolVersion.allCases)
    func codecSpeaksWithMosquitto(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let cliVersion = version == .v5 ? "mqttv5" : "mqttv311"
        let connection = try RawConnection(port: broker.plainPort, version: version)

        var connectProperties = MQTTProperties()
        if version == .v5 {
            connectProperties.receiveMaximum = 10
            connectProperties.userProperties = [MQTTUserProperty(name: "codec", value: "test")]
        }
        try connection.send(
            .connect(
                MQTTConnect(
                    protocolVersion: version, keepAlive: 30, clientIdentifier: "codec-\(version)",
                    will: MQTTWill(topic: "codec/will", payload: ByteBuffer(string: "gone"), qos: .atLeastOnce),
                    properties: connectProperties)))
        guard case .connack(let connack) = try connection.receive() else {
            Issue.record("expected CONNACK")
            return
        }
        #expect(connack.reasonCode == .success)
        #expect(!connack.sessionPresent)

        // Subscribe with QoS 1 and receive a message from mosquitto_pub.
        try connection.send(
            .subscribe(
                MQTTSubscribe(
                    packetIdentifier: 1,
                    subscriptions: [MQTTSubscription(topicFilter: "codec/in/+", options: .init(qos: .atLeastOnce))])))
        #expect(try connection.receive() == .suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1])))
        let published = try await broker.publishWithCLI(
            topic: "codec/in/x", message: "from-cli", options: .init(protocolVersion: cliVersion, qos: 1))
        #expect(published.exitStatus == 0, "\(published.output)")
        guard case .publish(let incoming) = try connection.receive() else {
            Issue.record("expected PUBLISH")
            return
        }
        #expect(incoming.topic == "codec/in/x")
        #expect(incoming.payload == ByteBuffer(string: "from-cli"))
        #expect(incoming.qos == .atLeastOnce)
        let incomingID = try #require(incoming.packetIdentifier)
        try connection.send(.puback(MQTTPubAck(packetIdentifier: incomingID)))

        // Publish with QoS 2 to a mosquitto_sub: the full PUBREC / PUBREL / PUBCOMP flow.
        let subscriber = try await broker.subscribeWithCLI(
            topic: "codec/out", count: 1, options: .init(protocolVersion: cliVersion, qos: 2))
        try connection.send(
            .publish(
                MQTTPublish(
                    topic: "codec/out", payload: ByteBuffer(string: "from-codec"), qos: .exactlyOnce,
                    packetIdentifier: 7)))
        #expect(try connection.receive() == .pubrec(MQTTPubAck(packetIdentifier: 7)))
        try connection.send(.pubrel(MQTTPubAck(packetIdentifier: 7)))
        #expect(try connection.receive() == .pubcomp(MQTTPubAck(packetIdentifier: 7)))
        let result = await subscriber.wait()
        #expect(result.exitStatus == 0, "\(result.output)")
        #expect(subscriber.messages == [CLISubscriber.Message(topic: "codec/out", payload: "from-codec")])

        try connection.send(.pingreq)
        #expect(try connection.receive() == .pingresp)

        try connection.send(.unsubscribe(MQTTUnsubscribe(packetIdentifier: 2, topicFilters: ["codec/in/+"])))
        let expectedUnsuback =
            version == .v5
            ? MQTTUnsubAck(packetIdentifier: 2, reasonCodes: [.success]) : MQTTUnsubAck(packetIdentifier: 2)
        #expect(try connection.receive() == .unsuback(expectedUnsuback))

        try connection.send(.disconnect(MQTTDisconnect()))
        #expect(try connection.receive() == nil, "the broker closes after DISCONNECT")
    }

    /// mosquitto answers a packet with reserved flags by closing the connection (MQTT 5: after a
    /// DISCONNECT whose reason code the decoder must read as Malformed Packet or Protocol Error).
    @Test func brokerRejectsMalformedPacket() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let connection = try RawConnection(port: broker.plainPort, version: .v5)
        try connection.send(.connect(MQTTConnect(protocolVersion: .v5, clientIdentifier: "codec-bad")))
        guard case .connack(let connack) = try connection.receive() else {
            Issue.record("expected CONNACK")
            return
        }
        #expect(connack.reasonCode == .success)
        // SUBSCRIBE with fixed-header flags 0000 instead of 0010.
        try connection.sendRaw([0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x00])
        let answer = try connection.receive()
        switch answer {
        case nil:
            break
        case .disconnect(let disconnect):
            #expect([MQTTReasonCode.malformedPacket, .protocolError].contains(disconnect.reasonCode))
        default:
            Issue.record("unexpected answer \(String(describing: answer))")
        }
    }
}

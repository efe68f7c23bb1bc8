import MQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// A scripted MQTT 5 peer on loopback for what mosquitto cannot be made to do: send malformed
/// packets, topic aliases, duplicate QoS 2 deliveries, or withhold PINGRESP. It decodes what the
/// client sends with the package's codec and writes raw bytes.
final class ScriptedBroker: @unchecked Sendable {
    let channel: Channel
    let connections: AsyncStream<ScriptedConnection>
    private var iterator: AsyncStream<ScriptedConnection>.AsyncIterator

    var port: Int { channel.localAddress!.port! }

    private init(channel: Channel, connections: AsyncStream<ScriptedConnection>) {
        self.channel = channel
        self.connections = connections
        self.iterator = connections.makeAsyncIterator()
    }

    static func start() async throws -> ScriptedBroker {
        let (stream, continuation) = AsyncStream.makeStream(of: ScriptedConnection.self)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = ScriptedConnection(channel: channel)
                    try channel.pipeline.syncOperations.addHandler(connection)
                    continuation.yield(connection)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedBroker(channel: channel, connections: stream)
    }

    func nextConnection() async throws -> ScriptedConnection {
        try await withTimeout(5, "client connection") { [self] in
            var iterator = self.iterator
            guard let next = await iterator.next() else { throw TestTimeout(what: "server closed") }
            return next
        }
    }

    func close() async { try? await channel.close() }
}

final class ScriptedConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let channel: Channel
    private var processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(version: .v5))
    private let received = NIOLockedValueBox((packets: [MQTTPacket](), closed: false))

    init(channel: Channel) {
        self.channel = channel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        try? processor.process(buffer: buffer) { packet in
            received.withLockedValue { $0.packets.append(packet) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        received.withLockedValue { $0.closed = true }
    }

    /// The next packet from the client, `nil` once it closed the connection; throws on timeout.
    func nextPacket(seconds: Double = 15) async throws -> MQTTPacket? {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        while true {
            let next = received.withLockedValue { state -> (MQTTPacket?, Bool) in
                if !state.packets.isEmpty { return (state.packets.removeFirst(), false) }
                return (nil, state.closed)
            }
            if let packet = next.0 { return packet }
            if next.1 { return nil }
            if ContinuousClock.now >= deadline { throw TestTimeout(what: "packet from the client") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func send(_ packet: MQTTPacket) async throws {
        var buffer = channel.allocator.buffer(capacity: 64)
        try packet.encode(into: &buffer, version: .v5)
        try await channel.writeAndFlush(buffer)
    }

    func send(raw bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Reads CONNECT and answers CONNACK.
    func accept(_ connack: MQTTConnAck = MQTTConnAck()) async throws -> MQTTConnect {
        guard case .connect(let connect) = try await nextPacket() else {
            throw TestTimeout(what: "CONNECT")
        }
        try await send(.connack(connack))
        return connect
    }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct ClientScriptedBrokerTests {
    func client(port: Int, keepAlive: Duration = .seconds(60)) throws -> MQTTClient {
        var configuration = MQTTClientConfiguration(
            host: "127.0.0.1", port: port, protocolVersion: .v5, clientID: "scripted", keepAlive: keepAlive)
        configuration.reconnect = .disabled
        configuration.connectTimeout = .seconds(5)
        return try MQTTClient(configuration: configuration)
    }

    /// Connects `client` to the scripted broker and returns the server side.
    func connect(
        _ client: MQTTClient, _ broker: ScriptedBroker, connack: MQTTConnAck = MQTTConnAck()
    ) async throws
        -> ScriptedConnection
    {
        async let connected: MQTTConnAck = client.connect()
        let connection = try await broker.nextConnection()
        _ = try await connection.accept(connack)
        _ = try await connected
        return connection
    }

    /// Subscribes through the scripted broker (which grants QoS 2).
    func subscribe(
        _ client: MQTTClient, _ connection: ScriptedConnection, filter: String
    ) async throws
        -> MQTTMessageStream
    {
        async let stream = client.subscribe(to: filter, qos: .exactlyOnce)
        guard case .subscribe(let subscribe) = try await connection.nextPacket() else {
            throw TestTimeout(what: "SUBSCRIBE")
        }
        try await connection.send(
            .suback(MQTTSubAck(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.grantedQoS2])))
        return try await stream
    }

    @Test(arguments: [
        ("QoS 3 PUBLISH", [0x36, 0x00] as [UInt8]),
        ("reserved packet type 0", [0x00, 0x00]),
        ("PUBREL with wrong flags", [0x60, 0x02, 0x00, 0x01]),
        ("5-byte remaining length", [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ("truncated string inside PUBLISH", [0x30, 0x03, 0x00, 0x05, 0x61]),
    ])
    func malformedPacketEndsTheConnectionWithDisconnect0x81(name: String, bytes: [UInt8]) async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        let stream = try await subscribe(client, connection, filter: "t/#")
        try await connection.send(raw: bytes)
        // The client answers DISCONNECT with Malformed Packet and closes.
        let answer = try await connection.nextPacket()
        guard case .disconnect(let disconnect) = answer else {
            Issue.record("\(name): expected DISCONNECT, got \(String(describing: answer))")
            return
        }
        #expect(disconnect.reasonCode == .malformedPacket, "\(name)")
        #expect(try await connection.nextPacket() == nil, "\(name): connection not closed")
        // The typed error reaches the application: on the stream and from waitUntilClosed.
        let streamError = await #expect(throws: MQTTError.self) {
            for try await _ in stream {}
        }
        #expect(streamError?.code == .brokerProtocolViolation)
        #expect(streamError?.reasonCode == .malformedPacket)
        let closeError = await #expect(throws: MQTTError.self) {
            try await withTimeout(5, "close") { try await client.waitUntilClosed() }
        }
        #expect(closeError?.code == .brokerProtocolViolation)
        #expect(await !client.isConnected)
    }

    @Test func malformedConnAckFailsConnect() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connected = Task { try await client.connect() }
        let connection = try await broker.nextConnection()
        guard case .connect = try await connection.nextPacket() else {
            Issue.record("no CONNECT")
            return
        }
        // CONNACK with session present and a failure code: a protocol error.
        try await connection.send(raw: [0x20, 0x03, 0x01, 0x87, 0x00])
        let error = await #expect(throws: MQTTError.self) { _ = try await connected.value }
        #expect(error?.code == .brokerProtocolViolation)
    }

    @Test func packetBeforeConnAckIsAProtocolError() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connected = Task { try await client.connect() }
        let connection = try await broker.nextConnection()
        _ = try await connection.nextPacket()
        try await connection.send(.pingresp)
        let error = await #expect(throws: MQTTError.self) { _ = try await connected.value }
        #expect(error?.code == .brokerProtocolViolation)
        #expect(error?.reasonCode == .protocolError)
    }

    @Test func incomingTopicAliasesAreResolved() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        let stream = try await subscribe(client, connection, filter: "sensors/#")
        var first = MQTTProperties()
        first.topicAlias = 3
        try await connection.send(.publish(MQTTPublish(topic: "sensors/a", payload: payload("1"), properties: first)))
        try await connection.send(.publish(MQTTPublish(topic: "", payload: payload("2"), properties: first)))
        try await connection.send(.publish(MQTTPublish(topic: "sensors/b", payload: payload("3"), properties: first)))
        try await connection.send(.publish(MQTTPublish(topic: "", payload: payload("4"), properties: first)))
        let messages = try await collect(stream, count: 4)
        #expect(messages.map(\.topic) == ["sensors/a", "sensors/a", "sensors/b", "sensors/b"])
        #expect(messages.allSatisfy { $0.properties.topicAlias == nil })
        // An alias the broker never set: protocol error.
        var unknown = MQTTProperties()
        unknown.topicAlias = 9
        try await connection.send(.publish(MQTTPublish(topic: "", payload: payload("?"), properties: unknown)))
        guard case .disconnect(let disconnect) = try await connection.nextPacket() else {
            Issue.record("expected DISCONNECT")
            return
        }
        #expect(disconnect.reasonCode == .protocolError)
    }

    @Test func topicAliasAboveTheAnnouncedMaximumIsRefused() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        async let connected: MQTTConnAck = client.connect()
        let connection = try await broker.nextConnection()
        let connect = try await connection.accept()
        _ = try await connected
        let maximum = try #require(connect.properties.topicAliasMaximum)
        var properties = MQTTProperties()
        properties.topicAlias = maximum + 1
        try await connection.send(.publish(MQTTPublish(topic: "x", payload: payload("1"), properties: properties)))
        guard case .disconnect(let disconnect) = try await connection.nextPacket() else {
            Issue.record("expected DISCONNECT")
            return
        }
        #expect(disconnect.reasonCode == .topicAliasInvalid)
    }

    @Test func incomingQoS2IsDeliveredExactlyOnceWithTheExactFlow() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        let stream = try await subscribe(client, connection, filter: "q2")
        let publish = MQTTPublish(topic: "q2", payload: payload("once"), qos: .exactlyOnce, packetIdentifier: 7)
        try await connection.send(.publish(publish))
        #expect(try await connection.nextPacket() == .pubrec(MQTTPubAck(packetIdentifier: 7)))
        // The broker did not see the PUBREC and resends with DUP: acknowledged again, not delivered again.
        var duplicate = publish
        duplicate.dup = true
        try await connection.send(.publish(duplicate))
        #expect(try await connection.nextPacket() == .pubrec(MQTTPubAck(packetIdentifier: 7)))
        try await connection.send(.pubrel(MQTTPubAck(packetIdentifier: 7)))
        #expect(try await connection.nextPacket() == .pubcomp(MQTTPubAck(packetIdentifier: 7)))
        // A PUBREL for an id that is not pending: PUBCOMP with Packet Identifier Not Found.
        try await connection.send(.pubrel(MQTTPubAck(packetIdentifier: 8)))
        #expect(
            try await connection.nextPacket()
                == .pubcomp(MQTTPubAck(packetIdentifier: 8, reasonCode: .packetIdentifierNotFound)))
        // After PUBCOMP the id is free: a new message with id 7 is a new message.
        try await connection.send(
            .publish(MQTTPublish(topic: "q2", payload: payload("again"), qos: .exactlyOnce, packetIdentifier: 7)))
        #expect(try await connection.nextPacket() == .pubrec(MQTTPubAck(packetIdentifier: 7)))
        let messages = try await collect(stream, count: 2)
        #expect(messages.map(\.payloadString) == ["once", "again"])
        #expect(await collectFor(stream, seconds: 0.2).isEmpty)
    }

    @Test func outgoingQoS2FlowAndPublishFailureCodes() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        async let result = client.publish(to: "out", payload: payload("x"), qos: .exactlyOnce)
        guard case .publish(let publish) = try await connection.nextPacket(), let id = publish.packetIdentifier else {
            Issue.record("expected PUBLISH")
            return
        }
        #expect(publish.qos == .exactlyOnce)
        try await connection.send(.pubrec(MQTTPubAck(packetIdentifier: id)))
        #expect(try await connection.nextPacket() == .pubrel(MQTTPubAck(packetIdentifier: id)))
        try await connection.send(.pubcomp(MQTTPubAck(packetIdentifier: id)))
        #expect(try await result == .success)
        // A PUBREC failure ends the flow with a typed error carrying the code.
        let refused = Task { try await client.publish(to: "out", payload: payload("y"), qos: .exactlyOnce) }
        guard case .publish(let second) = try await connection.nextPacket(), let secondID = second.packetIdentifier
        else {
            Issue.record("expected PUBLISH")
            return
        }
        // Refused with nothing else in flight: the broker may still hold the QoS 2 flow completed above (a stale
        // restore), so the client releases it once and sends the message again.
        try await connection.send(.pubrec(MQTTPubAck(packetIdentifier: secondID, reasonCode: .quotaExceeded)))
        #expect(try await connection.nextPacket() == .pubrel(MQTTPubAck(packetIdentifier: id)))
        guard case .publish(let again) = try await connection.nextPacket(), let againID = again.packetIdentifier else {
            Issue.record("expected the refused PUBLISH again")
            return
        }
        #expect(again.payload == payload("y"))
        #expect(!again.dup)
        // Refused alone a second time on this connection: a real limit, the publish fails with the code.
        try await connection.send(.pubrec(MQTTPubAck(packetIdentifier: againID, reasonCode: .quotaExceeded)))
        let error = await #expect(throws: MQTTError.self) { _ = try await refused.value }
        #expect(error?.code == .publishFailed)
        #expect(error?.reasonCode == .quotaExceeded)
    }

    @Test func keepAliveSendsPingAndDetectsASilentBroker() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port, keepAlive: .seconds(1))
        let connection = try await connect(client, broker)
        #expect(try await connection.nextPacket(seconds: 3) == .pingreq)
        try await connection.send(.pingresp)
        #expect(try await connection.nextPacket(seconds: 3) == .pingreq)
        // No PINGRESP this time: the client gives up at the next tick (1 s) and closes. The generous bound only
        // absorbs scheduling delays on a loaded machine; it is a deadline, not a timing assertion.
        #expect(try await connection.nextPacket(seconds: 10) == nil)
        let error = await #expect(throws: MQTTError.self) {
            try await withTimeout(5, "close") { try await client.waitUntilClosed() }
        }
        #expect(error?.code == .connectionClosed)
        #expect(error?.reasonCode == .keepAliveTimeout)
    }

    @Test func brokerDisconnectSurfacesItsReasonCode() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        try await connection.send(.disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver)))
        let error = await #expect(throws: MQTTError.self) {
            try await withTimeout(5, "close") { try await client.waitUntilClosed() }
        }
        #expect(error?.code == .connectionClosed)
        #expect(error?.reasonCode == .sessionTakenOver)
    }

    @Test func receiveMaximumBoundsPublishesInFlight() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        var properties = MQTTProperties()
        properties.receiveMaximum = 3
        let connection = try await connect(client, broker, connack: MQTTConnAck(properties: properties))
        let publishes = Task {
            try await withThrowingTaskGroup(of: MQTTReasonCode.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        try await client.publish(to: "rm", payload: payload("\(index)"), qos: .atLeastOnce)
                    }
                }
                return try await group.reduce(into: 0) { count, _ in count += 1 }
            }
        }
        var outstanding: [UInt16] = []
        var acknowledged = 0
        while acknowledged < 10 {
            // Never more than 3 unacknowledged PUBLISH packets.
            while outstanding.count < 3 && acknowledged + outstanding.count < 10 {
                guard case .publish(let publish) = try await connection.nextPacket(),
                    let id = publish.packetIdentifier
                else {
                    Issue.record("expected PUBLISH")
                    return
                }
                outstanding.append(id)
            }
            // With 3 outstanding nothing more may arrive.
            if outstanding.count == 3 {
                let extra = try? await connection.nextPacket(seconds: 0.2)
                #expect(extra == nil, "a 4th PUBLISH exceeded Receive Maximum 3")
            }
            try await connection.send(.puback(MQTTPubAck(packetIdentifier: outstanding.removeFirst())))
            acknowledged += 1
        }
        #expect(try await publishes.value == 10)
    }

    @Test func sessionResumeResendsPublishWithDupAndPubrel() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        var configuration = MQTTClientConfiguration(
            host: "127.0.0.1", port: broker.port, protocolVersion: .v5, clientID: "resume",
            sessionExpiryInterval: .seconds(600))
        configuration.reconnect = MQTTReconnectPolicy(
            initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50), maximumAttempts: 20)
        let client = try MQTTClient(configuration: configuration)
        let first = try await connect(client, broker)
        let qos1 = Task { try await client.publish(to: "r1", payload: payload("one"), qos: .atLeastOnce) }
        guard case .publish(let publish1) = try await first.nextPacket(), let id1 = publish1.packetIdentifier else {
            Issue.record("expected PUBLISH QoS 1")
            return
        }
        let qos2 = Task { try await client.publish(to: "r2", payload: payload("two"), qos: .exactlyOnce) }
        guard case .publish(let publish2) = try await first.nextPacket(), let id2 = publish2.packetIdentifier else {
            Issue.record("expected PUBLISH QoS 2")
            return
        }
        #expect(!publish1.dup && !publish2.dup)
        try await first.send(.pubrec(MQTTPubAck(packetIdentifier: id2)))
        #expect(try await first.nextPacket() == .pubrel(MQTTPubAck(packetIdentifier: id2)))
        // The connection drops before PUBACK and PUBCOMP.
        try await first.channel.close()

        let second = try await broker.nextConnection()
        let connect = try await second.accept(MQTTConnAck(sessionPresent: true))
        #expect(!connect.cleanStart)
        #expect(connect.clientIdentifier == "resume")
        // Resent in the original order: the QoS 1 PUBLISH with DUP, then the PUBREL.
        guard case .publish(let resent) = try await second.nextPacket() else {
            Issue.record("expected the resent PUBLISH")
            return
        }
        #expect(resent.dup)
        #expect(resent.packetIdentifier == id1)
        #expect(resent.payload == payload("one"))
        #expect(try await second.nextPacket() == .pubrel(MQTTPubAck(packetIdentifier: id2)))
        try await second.send(.puback(MQTTPubAck(packetIdentifier: id1)))
        try await second.send(.pubcomp(MQTTPubAck(packetIdentifier: id2)))
        #expect(try await qos1.value == .success)
        #expect(try await qos2.value == .success)
        await client.disconnect()
        guard case .disconnect(let disconnect) = try await second.nextPacket() else {
            Issue.record("expected DISCONNECT")
            return
        }
        #expect(disconnect.reasonCode == .normalDisconnection)
    }

    @Test func publishesAboveTheBrokersMaximumQoSOrRetainAreRefusedBeforeSending() async throws {
        let broker = try await ScriptedBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        var properties = MQTTProperties()
        properties.maximumQoS = .atLeastOnce
        properties.retainAvailable = false
        let connection = try await connect(client, broker, connack: MQTTConnAck(properties: properties))
        let qos2 = await #expect(throws: MQTTError.self) {
            try await client.publish(to: "t", payload: payload("x"), qos: .exactlyOnce)
        }
        #expect(qos2?.reasonCode == .qosNotSupported)
        let retained = await #expect(throws: MQTTError.self) {
            try await client.publish(to: "t", payload: payload("x"), qos: .atLeastOnce, retain: true)
        }
        #expect(retained?.reasonCode == .retainNotSupported)
        // Nothing was sent; an allowed publish goes through.
        let allowed = Task { try await client.publish(to: "t", payload: payload("ok"), qos: .atLeastOnce) }
        guard case .publish(let publish) = try await connection.nextPacket(), let id = publish.packetIdentifier else {
            Issue.record("expected PUBLISH")
            return
        }
        #expect(publish.payload == payload("ok"))
        try await connection.send(.puback(MQTTPubAck(packetIdentifier: id)))
        #expect(try await allowed.value == .success)
    }
}

import MQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Testing

/// A scripted MQTT-over-WebSocket peer on loopback (NIO's server upgrader) for what RabbitMQ will not do: choose
/// another subprotocol, split packets across frames, ping, send text or oversized frames, close with a close frame.
final class ScriptedWebSocketBroker: @unchecked Sendable {
    let channel: Channel
    private let connections: NIOLockedValueBox<[ScriptedWebSocketConnection]>

    var port: Int { channel.localAddress!.port! }

    private init(channel: Channel, connections: NIOLockedValueBox<[ScriptedWebSocketConnection]>) {
        self.channel = channel
        self.connections = connections
    }

    /// - Parameter subprotocol: What the upgrade answer names in `Sec-WebSocket-Protocol` (`nil`: no header).
    static func start(subprotocol: String? = "mqtt") async throws -> ScriptedWebSocketBroker {
        let connections = NIOLockedValueBox<[ScriptedWebSocketConnection]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    shouldUpgrade: { channel, _ in
                        var headers = HTTPHeaders()
                        if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
                        return channel.eventLoop.makeSucceededFuture(headers)
                    },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let connection = ScriptedWebSocketConnection(channel: channel)
                            try channel.pipeline.syncOperations.addHandler(connection)
                            connections.withLockedValue { $0.append(connection) }
                        }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedWebSocketBroker(channel: channel, connections: connections)
    }

    /// The upgraded connection (bounded wait).
    func nextConnection() async throws -> ScriptedWebSocketConnection {
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while ContinuousClock.now < deadline {
            if let connection = connections.withLockedValue({ $0.isEmpty ? nil : $0.removeFirst() }) {
                return connection
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TestTimeout(what: "WebSocket upgrade")
    }

    func close() async { try? await channel.close() }
}

/// The server side of one upgraded connection: every frame the client sent, and the MQTT packets in its binary
/// frames.
final class ScriptedWebSocketConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let channel: Channel
    private var processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(version: .v5))
    private let received = NIOLockedValueBox(
        (frames: [WebSocketFrame](), packets: [MQTTPacket](), closed: false))

    init(channel: Channel) {
        self.channel = channel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        received.withLockedValue { $0.frames.append(frame) }
        guard frame.opcode == .binary || frame.opcode == .continuation else { return }
        try? processor.process(buffer: frame.unmaskedData) { packet in
            received.withLockedValue { $0.packets.append(packet) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        received.withLockedValue { $0.closed = true }
    }

    /// Every frame received so far.
    var frames: [WebSocketFrame] { received.withLockedValue { $0.frames } }

    /// The next MQTT packet from the client, `nil` once it closed the connection; throws on timeout.
    func nextPacket(seconds: Double = 10) async throws -> MQTTPacket? {
        try await next(seconds: seconds, "packet") { state in
            state.packets.isEmpty ? nil : state.packets.removeFirst()
        }
    }

    /// Waits until a frame with `opcode` arrived and returns it, `nil` once the client closed.
    func frame(_ opcode: WebSocketOpcode, seconds: Double = 10) async throws -> WebSocketFrame? {
        try await next(seconds: seconds, "\(opcode) frame") { state in
            state.frames.first { $0.opcode == opcode }
        }
    }

    private func next<T>(
        seconds: Double, _ what: String,
        _ take: @Sendable (inout (frames: [WebSocketFrame], packets: [MQTTPacket], closed: Bool)) -> T?
    ) async throws -> T? {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        while true {
            let (value, closed) = received.withLockedValue { state in (take(&state), state.closed) }
            if let value { return value }
            if closed { return nil }
            if ContinuousClock.now >= deadline { throw TestTimeout(what: what) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func send(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true) async throws {
        let frame = WebSocketFrame(fin: fin, opcode: opcode, data: channel.allocator.buffer(bytes: bytes))
        try await channel.writeAndFlush(frame)
    }

    static func encode(_ packets: [MQTTPacket]) throws -> [UInt8] {
        var buffer = ByteBuffer()
        for packet in packets { try packet.encode(into: &buffer, version: .v5) }
        return Array(buffer.readableBytesView)
    }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct ClientWebSocketTests {
    func client(port: Int, maximumFrameSize: Int? = nil, connectTimeout: Duration = .seconds(5)) throws -> MQTTClient {
        var configuration = MQTTClientConfiguration(
            host: "127.0.0.1", port: port, protocolVersion: .v5, clientID: "scripted-ws")
        configuration.webSocket = MQTTWebSocketOptions(path: "/mqtt", maximumFrameSize: maximumFrameSize)
        configuration.reconnect = .disabled
        configuration.connectTimeout = connectTimeout
        return try MQTTClient(configuration: configuration)
    }

    /// The error `connect()` ends with; records an issue when it succeeds or throws something else.
    func connectFailure(_ client: MQTTClient) async -> MQTTError? {
        do {
            try await client.connect()
            Issue.record("connect() succeeded")
        } catch let error as MQTTError {
            return error
        } catch {
            Issue.record("connect() threw \(error)")
        }
        return nil
    }

    /// Connects through the scripted broker; the CONNACK goes in two frames (binary without FIN, then a
    /// continuation), so a packet split across frames is read whole.
    func connect(_ client: MQTTClient, _ broker: ScriptedWebSocketBroker) async throws -> ScriptedWebSocketConnection {
        async let connected = client.connect()
        let connection = try await broker.nextConnection()
        guard case .connect = try await connection.nextPacket() else { throw TestTimeout(what: "CONNECT") }
        let connack = try ScriptedWebSocketConnection.encode([.connack(MQTTConnAck())])
        try await connection.send(.binary, Array(connack.prefix(1)), fin: false)
        try await connection.send(.continuation, Array(connack.dropFirst()))
        _ = try await connected
        return connection
    }

    @Test func packetsSplitAcrossFramesOrSharingOneFrameAreAllRead() async throws {
        let broker = try await ScriptedWebSocketBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        async let subscribed = client.subscribe(to: "ws/#", qos: .atMostOnce)
        guard case .subscribe(let subscribe) = try await connection.nextPacket() else {
            Issue.record("no SUBSCRIBE")
            return
        }
        // SUBACK and two messages in one frame.
        try await connection.send(
            .binary,
            try ScriptedWebSocketConnection.encode([
                .suback(MQTTSubAck(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.grantedQoS0])),
                .publish(MQTTPublish(topic: "ws/1", payload: ByteBuffer(string: "one"))),
                .publish(MQTTPublish(topic: "ws/2", payload: ByteBuffer(string: "two"))),
            ]))
        let stream = try await subscribed
        #expect(try await collect(stream, count: 2).map(\.payloadString) == ["one", "two"])
        // Every frame of the client is masked (RFC 6455 §5.3) and binary.
        let frames = connection.frames
        #expect(!frames.isEmpty)
        #expect(frames.allSatisfy { $0.maskKey != nil && $0.opcode == .binary })
        await client.disconnect()
        // The client's close: DISCONNECT, then a close frame with 1000.
        let close = try #require(try await connection.frame(.connectionClose))
        var data = close.unmaskedData
        #expect(data.readWebSocketErrorCode() == .normalClosure)
    }

    @Test func aPingIsAnsweredWithAPongCarryingItsData() async throws {
        let broker = try await ScriptedWebSocketBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        try await connection.send(.ping, Array("are you there".utf8))
        let pong = try #require(try await connection.frame(.pong))
        #expect(Array(pong.unmaskedData.readableBytesView) == Array("are you there".utf8))
        await client.disconnect()
    }

    @Test func aTextFrameIsAProtocolViolation() async throws {
        let broker = try await ScriptedWebSocketBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        async let failure = connectFailure(client)
        let connection = try await broker.nextConnection()
        guard case .connect = try await connection.nextPacket() else { throw TestTimeout(what: "CONNECT") }
        try await connection.send(.text, Array("hello".utf8))
        let error = await failure
        #expect(error?.code == .brokerProtocolViolation)
        let close = try #require(try await connection.frame(.connectionClose))
        var data = close.unmaskedData
        #expect(data.readWebSocketErrorCode() == .unacceptableData)
    }

    @Test func aCloseFrameFromTheBrokerEndsTheConnection() async throws {
        let broker = try await ScriptedWebSocketBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        let connection = try await connect(client, broker)
        var code = ByteBuffer()
        code.write(webSocketErrorCode: .goingAway)
        try await connection.send(.connectionClose, Array(code.readableBytesView))
        // Answered with a close frame; without reconnection the client then stops with the lost connection.
        #expect(try await connection.frame(.connectionClose) != nil)
        let error = await #expect(throws: MQTTError.self) { try await client.waitUntilClosed() }
        #expect(error?.code == .connectionClosed)
    }

    @Test func aFrameAboveTheLimitClosesTheConnection() async throws {
        let broker = try await ScriptedWebSocketBroker.start()
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port, maximumFrameSize: 1024)
        async let failure = connectFailure(client)
        let connection = try await broker.nextConnection()
        guard case .connect = try await connection.nextPacket() else { throw TestTimeout(what: "CONNECT") }
        try await connection.send(.binary, [UInt8](repeating: 0, count: 4096))
        let error = await failure
        #expect(error?.code == .connectionClosed)
        #expect(error?.description.contains("larger than the client accepts") == true, "\(String(describing: error))")
        let close = try #require(try await connection.frame(.connectionClose))
        var data = close.unmaskedData
        #expect(data.readWebSocketErrorCode() == .messageTooLarge)
    }

    @Test func aBrokerThatChoosesAnotherSubprotocolIsRefused() async throws {
        let broker = try await ScriptedWebSocketBroker.start(subprotocol: "mqttv3.1")
        defer { Task { await broker.close() } }
        let error = await #expect(throws: MQTTError.self) { try await client(port: broker.port).connect() }
        #expect(error?.code == .connectionClosed)
        #expect(error?.description.contains("subprotocol mqttv3.1") == true, "\(String(describing: error))")
    }

    @Test func aBrokerThatNamesNoSubprotocolIsAccepted() async throws {
        let broker = try await ScriptedWebSocketBroker.start(subprotocol: nil)
        defer { Task { await broker.close() } }
        let client = try client(port: broker.port)
        _ = try await connect(client, broker)
        await client.disconnect()
    }

    @Test func noAnswerToTheUpgradeTimesOut() async throws {
        // A loopback listener that takes the request and never answers.
        let silent = try await ScriptedBroker.start()
        defer { Task { await silent.close() } }
        let error = await #expect(throws: MQTTError.self) {
            try await client(port: silent.port, connectTimeout: .milliseconds(500)).connect()
        }
        #expect(error?.code == .timeout)
    }
}

import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The WebSocket layer of a connection (``MQTTWebSocketOptions``): the HTTP/1.1 upgrade to the `mqtt` subprotocol,
/// then binary frames in both directions. Once upgraded the pipeline is
/// `[TLS] → frame encoder/decoder → WebSocketMQTTBridge → MQTTChannelHandler`,
/// so the MQTT side sees the same byte stream as on TCP.
enum WebSocketTransport {
    /// The subprotocol MQTT 3.1.1 §6 and MQTT 5.0 §6 name.
    static let subprotocol = "mqtt"

    /// Adds the upgrade handlers to a new channel. When the broker accepted the upgrade, the MQTT handler takes
    /// their place and `core.webSocketUpgraded(connectionID:)` is called; a refusal or an error is reported to the
    /// core as the connection's error, and the channel is closed.
    static func addHandshake(
        to channel: Channel, options: MQTTWebSocketOptions, host: String, port: Int, core: ClientCore,
        connectionID: Int, makeMQTTHandler: @escaping @Sendable () -> MQTTChannelHandler
    ) throws {
        let frameLimit = min(
            Int(UInt32.max),
            options.maximumFrameSize ?? core.configuration.maximumPacketSize.addingReportingOverflow(16).partialValue)
        // The bridge answers protocol errors itself: NIO's error handler could close the channel before the error
        // reaches the MQTT handler, and the connection would end without its reason.
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: frameLimit, automaticErrorHandling: false) {
            channel, response in
            channel.eventLoop.makeCompletedFuture {
                let operations = channel.pipeline.syncOperations
                let handshake = try operations.handler(type: WebSocketHandshakeHandler.self)
                // RFC 6455 §4.1: a subprotocol the client did not offer fails the connection; none is allowed.
                let chosen = response.headers["Sec-WebSocket-Protocol"]
                guard chosen.isEmpty || chosen == [subprotocol] else {
                    handshake.fail(
                        MQTTError.client(
                            .connectionClosed, .unspecifiedError,
                            "the broker chose the WebSocket subprotocol \(chosen.joined(separator: ", ")), not mqtt"),
                        channel: channel)
                    return
                }
                operations.removeHandler(handshake, promise: nil)
                try operations.addHandler(WebSocketMQTTBridge())
                try operations.addHandler(makeMQTTHandler())
                core.webSocketUpgraded(connectionID: connectionID)
            }
        }
        var headers = HTTPHeaders()
        for (name, value) in options.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        headers.replaceOrAdd(name: "Host", value: "\(host.contains(":") ? "[\(host)]" : host):\(port)")
        headers.replaceOrAdd(name: "Sec-WebSocket-Protocol", value: subprotocol)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: options.path, headers: headers)
        let operations = channel.pipeline.syncOperations
        try operations.addHTTPClientHandlers(withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        try operations.addHandler(
            WebSocketHandshakeHandler(
                core: core, connectionID: connectionID, request: head, endpoint: "\(host):\(port)\(options.path)"))
    }

    /// One sentence for an error of the WebSocket layer, or `nil` for any other error.
    static func describe(_ error: Error) -> String? {
        if let error = error as? NIOWebSocketError {
            switch error {
            case .invalidFrameLength:
                return "the broker sent a WebSocket frame larger than the client accepts"
            case .fragmentedControlFrame, .multiByteControlFrameLength:
                return "the broker sent an invalid WebSocket control frame"
            }
        }
        if let error = error as? NIOHTTPClientUpgradeError {
            switch error {
            case .upgraderDeniedUpgrade:
                return "the broker's WebSocket upgrade answer is invalid (Sec-WebSocket-Accept does not match)"
            case .responseProtocolNotFound:
                return "the broker switched to another protocol than WebSocket"
            default:
                return "the WebSocket upgrade failed: the broker's HTTP answer is out of order"
            }
        }
        if error is HTTPParserError { return "the broker's answer to the WebSocket upgrade is not valid HTTP" }
        return nil
    }
}

/// Sends the upgrade request once the channel is active and turns whatever is not an upgrade into the
/// connection's error. It is removed when the upgrade succeeds.
final class WebSocketHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let core: ClientCore
    private let connectionID: Int
    private let request: HTTPRequestHead
    private let endpoint: String
    private var sent = false
    private var failed = false

    init(core: ClientCore, connectionID: Int, request: HTTPRequestHead, endpoint: String) {
        self.core = core
        self.connectionID = connectionID
        self.request = request
        self.endpoint = endpoint
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendRequest(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context)
        context.fireChannelActive()
    }

    private func sendRequest(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// A response that is not `101 Switching Protocols` (the upgrade handler passes those on).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let response) = unwrapInboundIn(data) else { return }
        fail(
            MQTTError.client(
                .connectionClosed, .unspecifiedError,
                "\(endpoint) refused the WebSocket upgrade: HTTP \(response.status.code) \(response.status.reasonPhrase)"
            ),
            channel: context.channel)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(error, channel: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.connectionClosed(connectionID: connectionID)
        context.fireChannelInactive()
    }

    /// The first failure explains the close.
    func fail(_ error: Error, channel: Channel) {
        guard !failed else { return }
        failed = true
        core.connectionError(error, connectionID: connectionID)
        channel.close(promise: nil)
    }
}

/// Binary WebSocket frames ⇄ the MQTT byte stream. An MQTT packet may span frames and a frame may hold several
/// packets: the MQTT framer reads a stream either way. Pings are answered; a close frame from the broker is
/// answered and the connection closed; a text frame breaks MQTT's rule of binary frames and closes it. The client's
/// own close sends a close frame (1000) first.
final class WebSocketMQTTBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            sendClose(context, code: .normalClosure)
            context.close(promise: nil)
        case .text:
            sendClose(context, code: .unacceptableData)
            context.fireErrorCaught(
                MQTTError.client(
                    .brokerProtocolViolation, .protocolError,
                    "the broker sent a WebSocket text frame; MQTT travels in binary frames"))
        default:
            break
        }
    }

    /// A frame the decoder refused: the close frame with its code, then the error on to the MQTT handler, which
    /// records it as the connection's reason and closes.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? NIOWebSocketError {
            sendClose(context, code: error == .invalidFrameLength ? .messageTooLarge : .protocolError)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: unwrapOutboundIn(data))
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, context.channel.isActive { sendClose(context, code: .normalClosure) }
        context.close(mode: mode, promise: promise)
    }

    private func sendClose(_ context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !closeSent else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}

import NIOCore

/// The socket of one connection to the broker (TCP or TLS), its outgoing buffer and its timers. What was negotiated
/// on it is protocol state and lives in ``ClientStateMachine/Connection``. Confined to the client's event loop, like
/// ``ClientCore``, which alone touches it.
final class MQTTConnection: @unchecked Sendable {
    let id: Int
    let channel: Channel
    /// Encoded packets waiting for the once-per-tick flush.
    var outbound: ByteBuffer
    var flushScheduled = false
    var keepAliveTask: RepeatedTask?
    /// Resets the reconnect backoff once the connection has lasted ``MQTTReconnectPolicy/resetAfter``.
    var stableTask: Scheduled<Void>?
    var connectTimeout: Scheduled<Void>?

    init(id: Int, channel: Channel) {
        self.id = id
        self.channel = channel
        self.outbound = channel.allocator.buffer(capacity: 4096)
    }

    func cancelTimers() {
        channel.eventLoop.assertInEventLoop()
        keepAliveTask?.cancel()
        stableTask?.cancel()
        connectTimeout?.cancel()
        keepAliveTask = nil
        stableTask = nil
        connectTimeout = nil
    }
}

/// Decodes packets and forwards connection events to the client core. Runs on the client's loop.
final class MQTTChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let core: ClientCore
    private let connectionID: Int
    private var framer: InboundFramer
    private var failed = false

    init(core: ClientCore, connectionID: Int, version: MQTTProtocolVersion, maximumPacketSize: Int) {
        self.core = core
        self.connectionID = connectionID
        self.framer = InboundFramer(version: version, maxPacketSize: maximumPacketSize)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        do {
            try framer.process(buffer) { event in
                switch event {
                case .packet(let packet):
                    core.received(packet, connectionID: connectionID)
                case .skippedPublish(let topic, let qos, let packetIdentifier, let size):
                    core.skippedOversizedPublish(
                        topic: topic, qos: qos, packetIdentifier: packetIdentifier, size: size,
                        connectionID: connectionID)
                }
            }
        } catch {
            failed = true
            core.protocolViolation(error, connectionID: connectionID)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        core.readComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.connectionClosed(connectionID: connectionID)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        core.connectionError(error, connectionID: connectionID)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        core.writabilityChanged(connectionID: connectionID, isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }
}

import NIOCore

/// One TCP (or TLS) connection to the broker and what was negotiated on it. Confined to the
/// client's event loop.
final class MQTTConnection: @unchecked Sendable {
    let id: Int
    let channel: Channel
    let version: MQTTProtocolVersion
    /// CONNACK received with success.
    var established = false
    /// Set once closing started (protocol violation, DISCONNECT, keepalive timeout).
    var closing = false
    /// The broker's Receive Maximum.
    var sendQuota = 65535
    /// Whether this connection already released the QoS 2 flows a stale broker may hold (once per connection).
    var releasedStaleFlows = false
    /// The broker's Maximum Packet Size.
    var brokerMaximumPacketSize = MQTTPacket.maximumPacketSize
    /// The broker's Topic Alias Maximum.
    var brokerTopicAliasMaximum: UInt16 = 0
    /// Topic -> alias, assigned by this client on this connection.
    var outgoingAliases: [String: UInt16] = [:]
    /// Alias -> topic, assigned by the broker on this connection.
    var incomingAliases: [UInt16: String] = [:]
    /// Encoded packets waiting for the once-per-tick flush.
    var outbound: ByteBuffer
    var flushScheduled = false
    var pingOutstanding = false
    var keepAliveTask: RepeatedTask?
    /// Resets the reconnect backoff once the connection has lasted ``MQTTReconnectPolicy/resetAfter``.
    var stableTask: Scheduled<Void>?
    var connectTimeout: Scheduled<Void>?
    var connectPromise: EventLoopPromise<MQTTConnAck>?
    /// The error that explains why the connection ended, when known.
    var lastError: MQTTError?
    var readPaused = false

    init(id: Int, channel: Channel, version: MQTTProtocolVersion) {
        self.id = id
        self.channel = channel
        self.version = version
        self.outbound = channel.allocator.buffer(capacity: 4096)
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

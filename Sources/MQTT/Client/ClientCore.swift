import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The result of a QoS 1/2 publish: the broker's reason code (success or, e.g.,
/// ``MQTTReasonCode/noMatchingSubscribers``). QoS 0 reports ``MQTTReasonCode/success`` once written.
typealias PublishPromise = EventLoopPromise<MQTTReasonCode>

/// The client's state machine. Every method runs on `loop`; that confinement is what makes the
/// `@unchecked Sendable` sound.
final class ClientCore: @unchecked Sendable {
    enum Phase: Equatable {
        case idle
        case connecting
        case connected
        case reconnecting
        case closed
    }

    struct Outgoing {
        var publish: MQTTPublish
        var awaitingPubcomp: Bool
        var sequence: UInt64
        var promise: PublishPromise
    }

    enum Request {
        case subscribe([MQTTSubscription], EventLoopPromise<(MQTTSubAck, MQTTMessageStream?)>?)
        case unsubscribe([String], EventLoopPromise<MQTTUnsubAck>)
    }

    let loop: EventLoop
    let configuration: MQTTClientConfiguration
    let sslContext: NIOSSLContext?
    var logger: Logger

    var phase = Phase.idle
    var connection: MQTTConnection?
    var nextConnectionID = 0
    var clientID: String
    var reconnectAttempt = 0
    var reconnectTask: Scheduled<Void>?
    /// Why the client stopped for good, if it did.
    var closeError: MQTTError?
    var closedWaiters: [EventLoopPromise<Void>] = []

    // Session state, kept across connections.
    var nextPacketID: UInt16 = 0
    var inflight: [UInt16: Outgoing] = [:]
    var sequence: UInt64 = 0
    var sendQuota = 65535
    /// The send window this session learned from Quota exceeded refusals (nil: the broker's Receive Maximum holds).
    /// A broker restored from a stale save still counts QoS 2 flows the client completed, so it takes fewer
    /// messages in flight than it announces. Kept across reconnects of the same session.
    var learnedSendQuota: Int?
    /// Packet ids of the last QoS 2 flows completed (PUBCOMP), oldest first: the flows a stale broker may still hold.
    var recentQoS2Completions = CircularBuffer<UInt16>(initialCapacity: ClientCore.recentQoS2Limit)
    static let recentQoS2Limit = 128
    /// Connections that reached CONNACK (for tests: reconnects are counted, not timed).
    var connectionsEstablished = 0
    /// The broker's Maximum QoS and Retain Available (MQTT 5 CONNACK).
    var brokerMaximumQoS = MQTTQoS.exactlyOnce
    var brokerRetainAvailable = true
    var pendingPublishes = CircularBuffer<(MQTTPublish, PublishPromise)>()
    var incomingQoS2: Set<UInt16> = []
    var requests: [UInt16: Request] = [:]
    var requestTimeouts: [UInt16: Scheduled<Void>] = [:]
    var activeSubscriptions: [MQTTSubscription] = []
    var streams: [Int: StreamBox] = [:]
    var nextStreamID = 0
    /// Streams whose buffer is full. Kept across connections: a stream stays paused until its consumer drains
    /// it, so a new connection starts with reading paused too.
    var pausedStreams: Set<Int> = []
    /// Messages no stream matched yet (a resumed session's backlog before the application subscribes).
    var unrouted: UnroutedMessages
    /// Streams whose waiting consumer is woken when the current socket read has been delivered.
    var streamsToWake: [StreamBox] = []
    var writabilityWaiters: [PublishPromise] = []
    let submissions = PublishSubmissions()
    /// Statistics for tests: topic aliases assigned, PUBLISH packets sent with an alias only.
    var aliasesAssigned = 0
    var publishesSentByAlias = 0
    /// PUBLISH packets over the maximum packet size, skipped.
    var oversizedMessagesSkipped = 0

    init(configuration: MQTTClientConfiguration, loop: EventLoop, sslContext: NIOSSLContext?) {
        self.configuration = configuration
        self.loop = loop
        self.sslContext = sslContext
        self.logger = configuration.logger
        self.unrouted = UnroutedMessages(capacity: configuration.subscriptionBufferCapacity)
        self.clientID =
            configuration.clientID.isEmpty
            ? "mqtt-swift-" + String(UInt64.random(in: 0...UInt64.max), radix: 36) : configuration.clientID
        logger[metadataKey: "mqtt.client"] = .string(clientID)
    }

    // MARK: - Connecting

    func connect(initial: Bool) -> EventLoopFuture<MQTTConnAck> {
        loop.preconditionInEventLoop()
        let promise = loop.makePromise(of: MQTTConnAck.self)
        nextConnectionID += 1
        let id = nextConnectionID
        let version = configuration.protocolVersion
        let sslContext = self.sslContext
        let serverName = configuration.tls?.serverName ?? configuration.host
        let sni: String? = Self.isIPAddress(serverName) ? nil : serverName
        let maximumPacketSize = configuration.maximumPacketSize
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(configuration.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: sni))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        MQTTChannelHandler(
                            core: self, connectionID: id, version: version, maximumPacketSize: maximumPacketSize))
                    let connection = MQTTConnection(id: id, channel: channel, version: version)
                    connection.connectPromise = promise
                    self.connection = connection
                }
            }
        if phase != .reconnecting { phase = .connecting }
        bootstrap.connect(host: configuration.host, port: configuration.port).whenComplete { result in
            switch result {
            case .failure(let error):
                let mapped = MQTTError.client(
                    .connectionClosed, .unspecifiedError,
                    "cannot connect to \(self.configuration.host):\(self.configuration.port): "
                        + ((error as? IOError).map(ConnectionFailure.describe) ?? "\(error)"))
                if let connection = self.connection, connection.id == id {
                    self.connection = nil
                    self.failConnect(connection, mapped)
                } else {
                    promise.fail(mapped)
                }
            case .success:
                guard let connection = self.connection, connection.id == id else { return }
                self.sendConnect(connection, initial: initial)
            }
        }
        return promise.futureResult
    }

    private func sendConnect(_ connection: MQTTConnection, initial: Bool) {
        var properties = MQTTProperties()
        if configuration.protocolVersion == .v5 {
            properties = configuration.connectProperties
            if configuration.sessionExpiryInterval > 0 {
                properties.sessionExpiryInterval = configuration.sessionExpiryInterval
            }
            if configuration.receiveMaximum != 65535 { properties.receiveMaximum = configuration.receiveMaximum }
            if configuration.maximumPacketSize < MQTTPacket.maximumPacketSize {
                properties.maximumPacketSize = UInt32(exactly: configuration.maximumPacketSize)
            }
            if configuration.topicAliasMaximum > 0 { properties.topicAliasMaximum = configuration.topicAliasMaximum }
        }
        let connect = MQTTConnect(
            protocolVersion: configuration.protocolVersion,
            cleanStart: initial ? configuration.cleanStart : false,
            keepAlive: configuration.keepAlive,
            clientIdentifier: clientID,
            username: configuration.username,
            password: configuration.password,
            will: configuration.will,
            properties: properties)
        do {
            try send(.connect(connect), on: connection)
        } catch {
            failConnect(connection, error)
            connection.channel.close(promise: nil)
            return
        }
        connection.connectTimeout = loop.scheduleTask(in: configuration.connectTimeout) {
            self.failConnect(connection, .client(.timeout, .unspecifiedError, "no CONNACK in time"))
            connection.channel.close(promise: nil)
        }
    }

    private func failConnect(_ connection: MQTTConnection, _ error: MQTTError) {
        connection.connectTimeout?.cancel()
        connection.connectTimeout = nil
        if let promise = connection.connectPromise {
            connection.connectPromise = nil
            promise.fail(error)
        }
    }

    private func handleConnAck(_ connack: MQTTConnAck, on connection: MQTTConnection) {
        connection.connectTimeout?.cancel()
        connection.connectTimeout = nil
        guard !connack.reasonCode.isFailure else {
            connection.lastError = .client(
                .connectionRefused, connack.reasonCode,
                "CONNACK \(connack.reasonCode)\(connack.properties.reasonString.map { ": " + $0 } ?? "")")
            failConnect(connection, connection.lastError!)
            connection.closing = true
            connection.channel.close(promise: nil)
            return
        }
        connection.established = true
        let properties = connack.properties
        if let receiveMaximum = properties.receiveMaximum { connection.sendQuota = Int(receiveMaximum) }
        if connection.version == .v311 { connection.sendQuota = configuration.inflightLimitForMQTT311 }
        sendQuota = max(1, min(connection.sendQuota, 65000))
        if !connack.sessionPresent { learnedSendQuota = nil }
        if let learnedSendQuota { sendQuota = min(sendQuota, learnedSendQuota) }
        connectionsEstablished += 1
        if let maximum = properties.maximumPacketSize, let size = Int(exactly: maximum) {
            connection.brokerMaximumPacketSize = size
        }
        connection.brokerTopicAliasMaximum = properties.topicAliasMaximum ?? 0
        brokerMaximumQoS = properties.maximumQoS ?? .exactlyOnce
        brokerRetainAvailable = properties.retainAvailable ?? true
        if let assigned = properties.assignedClientIdentifier { clientID = assigned }
        let keepAlive = Int64(properties.serverKeepAlive ?? configuration.keepAlive)
        if keepAlive > 0 {
            connection.keepAliveTask = loop.scheduleRepeatedTask(
                initialDelay: .seconds(keepAlive), delay: .seconds(keepAlive)
            ) { _ in
                self.keepAliveTick(connection)
            }
        }
        phase = .connected
        // The backoff starts over only once this connection has lasted: a broker that accepts and then drops
        // every connection (a crashed broker replaying a stale session) must not be hammered.
        if reconnectAttempt > 0 {
            connection.stableTask = loop.scheduleTask(in: configuration.reconnect.resetAfter) {
                if self.connection === connection { self.reconnectAttempt = 0 }
            }
        }
        if !pausedStreams.isEmpty { pauseReading(connection) }
        submissions.update(connected: true, blocked: !connection.channel.isWritable)
        logger.debug("connected", metadata: ["sessionPresent": "\(connack.sessionPresent)"])

        if !connack.sessionPresent {
            incomingQoS2.removeAll()
            unrouted.forgetDeferredAcks()
            if !activeSubscriptions.isEmpty {
                let id = allocatePacketID()
                requests[id] = .subscribe(activeSubscriptions, nil)
                try? send(
                    .subscribe(MQTTSubscribe(packetIdentifier: id, subscriptions: activeSubscriptions)), on: connection)
            }
        }
        // Session resume: resend what the broker has not acknowledged, in the original order.
        for entry in inflight.values.sorted(by: { $0.sequence < $1.sequence }) {
            guard let id = entry.publish.packetIdentifier else { continue }
            if entry.awaitingPubcomp {
                try? send(.pubrel(MQTTPubAck(packetIdentifier: id)), on: connection)
            } else {
                var publish = entry.publish
                publish.dup = true
                sendPublish(publish, on: connection, failing: entry.promise)
            }
        }
        drainPending()
        if let promise = connection.connectPromise {
            connection.connectPromise = nil
            promise.succeed(connack)
        }
    }

    private func keepAliveTick(_ connection: MQTTConnection) {
        guard self.connection === connection, !connection.closing else {
            connection.keepAliveTask?.cancel()
            return
        }
        if connection.readPaused {
            // The PINGRESP may sit unread behind the backlog, so a missing one proves nothing while reading is
            // paused; but the broker must still see traffic, or it drops the connection after 1.5x keepalive.
            // A broker that has gone away makes this write fail, which closes the connection.
            connection.pingOutstanding = false
            try? send(.pingreq, on: connection)
            return
        }
        if connection.pingOutstanding {
            connection.lastError = .client(.connectionClosed, .keepAliveTimeout, "no PINGRESP within keepalive")
            connection.closing = true
            connection.channel.close(promise: nil)
            return
        }
        connection.pingOutstanding = true
        try? send(.pingreq, on: connection)
    }

    // MARK: - Connection events

    func connectionError(_ error: Error, connectionID: Int) {
        guard let connection, connection.id == connectionID, connection.lastError == nil else { return }
        let host = configuration.tls?.serverName ?? configuration.host
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            connection.lastError = .client(
                .tlsFailure, .unspecifiedError, ConnectionFailure.tlsCause(error, host: host))
        } else if sslContext != nil, !connection.established, ConnectionFailure.isPlainPeerDuringHandshake(error) {
            connection.lastError = .client(
                .tlsFailure, .unspecifiedError,
                "the server closed the connection during the TLS handshake (is this a TLS port?)")
        } else if let io = error as? IOError {
            connection.lastError = .client(.connectionClosed, .unspecifiedError, ConnectionFailure.describe(io))
        } else {
            connection.lastError = .client(.connectionClosed, .unspecifiedError, "\(error)")
        }
    }

    func connectionClosed(connectionID: Int) {
        guard let connection, connection.id == connectionID else { return }
        self.connection = nil
        connection.keepAliveTask?.cancel()
        connection.stableTask?.cancel()
        let error =
            connection.lastError ?? .client(.connectionClosed, .unspecifiedError, "the broker closed the connection")
        for (id, request) in requests {
            requestTimeouts.removeValue(forKey: id)?.cancel()
            switch request {
            case .subscribe(_, let promise): promise?.fail(error)
            case .unsubscribe(_, let promise): promise.fail(error)
            }
        }
        requests.removeAll()
        let waiters = writabilityWaiters
        writabilityWaiters.removeAll()
        for waiter in waiters { waiter.fail(error) }
        readComplete()
        guard connection.established else {
            failConnect(connection, error)
            return
        }
        submissions.update(connected: false, blocked: false)
        guard phase == .connected else { return }
        logger.info("connection lost: \(error)")
        if configuration.reconnect.enabled {
            phase = .reconnecting
            scheduleReconnect()
        } else {
            terminate(error)
        }
    }

    private func scheduleReconnect() {
        reconnectAttempt += 1
        if let maximum = configuration.reconnect.maximumAttempts, reconnectAttempt > maximum {
            terminate(.client(.reconnectLimitReached, .unspecifiedError, "gave up after \(maximum) attempts"))
            return
        }
        let delay = configuration.reconnect.delay(attempt: reconnectAttempt)
        reconnectTask = loop.scheduleTask(in: delay) {
            guard self.phase == .reconnecting else { return }
            self.connect(initial: false).whenFailure { error in
                guard self.phase == .reconnecting else { return }
                self.logger.debug("reconnect attempt \(self.reconnectAttempt) failed: \(error)")
                self.scheduleReconnect()
            }
        }
    }

    func writabilityChanged(connectionID: Int, isWritable: Bool) {
        guard let connection, connection.id == connectionID else { return }
        submissions.update(blocked: !isWritable)
        guard isWritable else { return }
        let waiters = writabilityWaiters
        writabilityWaiters.removeAll()
        for waiter in waiters { waiter.succeed(.success) }
    }

    /// A malformed packet or a protocol violation from the broker: DISCONNECT (MQTT 5) and close.
    func protocolViolation(_ error: MQTTError, connectionID: Int) {
        guard let connection, connection.id == connectionID, !connection.closing else { return }
        logger.warning("protocol violation by the broker: \(error)")
        connection.closing = true
        connection.lastError = .client(.brokerProtocolViolation, error.reasonCode, "\(error)")
        failConnect(connection, connection.lastError!)
        if connection.version == .v5 && connection.established {
            try? MQTTPacket.disconnect(MQTTDisconnect(reasonCode: error.reasonCode))
                .encode(into: &connection.outbound, version: .v5)
        } else if connection.version == .v5 {
            // Before CONNACK the client may still send DISCONNECT in MQTT 5.
            try? MQTTPacket.disconnect(MQTTDisconnect(reasonCode: error.reasonCode))
                .encode(into: &connection.outbound, version: .v5)
        }
        let buffer = connection.outbound
        connection.outbound.clear()
        let channel = connection.channel
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: - Incoming packets

    func received(_ packet: MQTTPacket, connectionID: Int) {
        guard let connection, connection.id == connectionID, !connection.closing else { return }
        guard connection.established else {
            if case .connack(let connack) = packet {
                handleConnAck(connack, on: connection)
            } else {
                protocolViolation(.protocolError("\(packet.type) before CONNACK"), connectionID: connectionID)
            }
            return
        }
        switch packet {
        case .publish(let publish):
            handleIncomingPublish(publish, on: connection)
        case .puback(let ack):
            guard let entry = inflight[ack.packetIdentifier], !entry.awaitingPubcomp else {
                logger.debug("PUBACK for unknown packet id \(ack.packetIdentifier)")
                return
            }
            if entry.publish.qos == .exactlyOnce {
                // Some brokers (RabbitMQ 3.10) downgrade QoS 2 to 1 and answer PUBACK: the message was taken at
                // most at QoS 1. The publish ends with a typed error rather than waiting for a PUBREC forever.
                inflight.removeValue(forKey: ack.packetIdentifier)
                logger.warning("the broker answered a QoS 2 PUBLISH with PUBACK (QoS 1)")
                entry.promise.fail(
                    MQTTError.client(
                        .qosDowngraded, ack.reasonCode,
                        "the broker answered a QoS 2 PUBLISH with PUBACK: it accepted the message at QoS 1 at most"))
                drainPending()
                return
            }
            inflight.removeValue(forKey: ack.packetIdentifier)
            if ack.reasonCode == .quotaExceeded, retryAfterQuotaRefusal(entry, on: connection) { return }
            complete(entry.promise, ack, code: .publishFailed, what: "PUBACK")
            drainPending()
        case .pubrec(let ack):
            guard var entry = inflight[ack.packetIdentifier], entry.publish.qos == .exactlyOnce else {
                try? send(
                    .pubrel(MQTTPubAck(packetIdentifier: ack.packetIdentifier, reasonCode: pubrelNotFound(connection))),
                    on: connection)
                return
            }
            if ack.reasonCode.isFailure {
                inflight.removeValue(forKey: ack.packetIdentifier)
                if ack.reasonCode == .quotaExceeded, retryAfterQuotaRefusal(entry, on: connection) { return }
                complete(entry.promise, ack, code: .publishFailed, what: "PUBREC")
                drainPending()
                return
            }
            entry.awaitingPubcomp = true
            inflight[ack.packetIdentifier] = entry
            try? send(.pubrel(MQTTPubAck(packetIdentifier: ack.packetIdentifier)), on: connection)
        case .pubrel(let ack):
            let known = incomingQoS2.remove(ack.packetIdentifier) != nil
            let code: MQTTReasonCode = known || connection.version == .v311 ? .success : .packetIdentifierNotFound
            try? send(.pubcomp(MQTTPubAck(packetIdentifier: ack.packetIdentifier, reasonCode: code)), on: connection)
        case .pubcomp(let ack):
            guard let entry = inflight[ack.packetIdentifier], entry.awaitingPubcomp else {
                logger.debug("PUBCOMP for unknown packet id \(ack.packetIdentifier)")
                return
            }
            inflight.removeValue(forKey: ack.packetIdentifier)
            if recentQoS2Completions.count == Self.recentQoS2Limit { recentQoS2Completions.removeFirst() }
            recentQoS2Completions.append(ack.packetIdentifier)
            complete(entry.promise, ack, code: .publishFailed, what: "PUBCOMP")
            drainPending()
        case .suback(let suback):
            requestTimeouts.removeValue(forKey: suback.packetIdentifier)?.cancel()
            guard
                case .subscribe(let subscriptions, let promise) = requests.removeValue(forKey: suback.packetIdentifier)
            else {
                protocolViolation(.protocolError("SUBACK for unknown packet id"), connectionID: connectionID)
                return
            }
            if let promise {
                // Register the stream now, before any PUBLISH that follows the SUBACK (retained
                // messages often arrive in the same read).
                var stream: MQTTMessageStream?
                if !suback.reasonCodes.contains(where: \.isFailure) {
                    stream = addStream(
                        filters: subscriptions.map(\.topicFilter), subscriptions: subscriptions,
                        codes: suback.reasonCodes)
                }
                promise.succeed((suback, stream))
            } else {
                for (subscription, code) in zip(subscriptions, suback.reasonCodes) where code.isFailure {
                    logger.warning("resubscribe to \(subscription.topicFilter) refused: \(code)")
                }
            }
        case .unsuback(let unsuback):
            requestTimeouts.removeValue(forKey: unsuback.packetIdentifier)?.cancel()
            guard case .unsubscribe(_, let promise) = requests.removeValue(forKey: unsuback.packetIdentifier) else {
                protocolViolation(.protocolError("UNSUBACK for unknown packet id"), connectionID: connectionID)
                return
            }
            promise.succeed(unsuback)
        case .pingresp:
            connection.pingOutstanding = false
        case .disconnect(let disconnect):
            connection.lastError = .client(
                .connectionClosed, disconnect.reasonCode,
                "DISCONNECT from the broker: \(disconnect.reasonCode)"
                    + (disconnect.properties.reasonString.map { " " + $0 } ?? ""))
            connection.closing = true
            connection.channel.close(promise: nil)
        case .connect, .connack, .subscribe, .unsubscribe, .pingreq, .auth:
            protocolViolation(.protocolError("unexpected \(packet.type) from the broker"), connectionID: connectionID)
        }
    }

    /// A QoS 1/2 PUBLISH refused with Quota exceeded (already out of ``inflight``). The broker holds more in flight
    /// for this session than the client counts, typically QoS 2 flows it restored from a save older than their
    /// PUBREL. The message is not failed: it goes first in line again and the window shrinks to what the broker
    /// took. When it was alone in flight, the broker's whole quota is held by such flows: the client releases the
    /// QoS 2 flows it completed last (PUBREL; the broker answers PUBCOMP, or 0x92 for a flow it does not hold), once
    /// per connection, and tries again. Refused alone a second time, the publish fails: that is a real limit.
    ///
    /// - Returns: whether the message was queued again (false: the caller fails it).
    private func retryAfterQuotaRefusal(_ entry: Outgoing, on connection: MQTTConnection) -> Bool {
        if inflight.isEmpty {
            guard !connection.releasedStaleFlows else { return false }
            connection.releasedStaleFlows = true
            let releasing = recentQoS2Completions.filter { inflight[$0] == nil }
            guard !releasing.isEmpty else { return false }
            logger.warning(
                """
                the broker refused a message with nothing else in flight (Quota exceeded): releasing the last \
                \(releasing.count) completed QoS 2 flows it may still hold from a stale save
                """)
            for id in releasing { try? send(.pubrel(MQTTPubAck(packetIdentifier: id)), on: connection) }
            recentQoS2Completions.removeAll()
            learnedSendQuota = nil
        } else {
            sendQuota = max(1, inflight.count)
            learnedSendQuota = sendQuota
            logger.warning("the broker refused a message (Quota exceeded): send window now \(sendQuota)")
        }
        var publish = entry.publish
        publish.packetIdentifier = nil
        publish.dup = false
        pendingPublishes.prepend((publish, entry.promise))
        drainPending()
        return true
    }

    private func pubrelNotFound(_ connection: MQTTConnection) -> MQTTReasonCode {
        connection.version == .v5 ? .packetIdentifierNotFound : .success
    }

    private func complete(_ promise: PublishPromise, _ ack: MQTTPubAck, code: MQTTError.Code, what: String) {
        if ack.reasonCode.isFailure {
            promise.fail(
                MQTTError.client(
                    code, ack.reasonCode,
                    "\(what) \(ack.reasonCode)" + (ack.properties.reasonString.map { ": " + $0 } ?? "")))
        } else {
            promise.succeed(ack.reasonCode)
        }
    }

    // MARK: - Sending

    func send(_ packet: MQTTPacket, on connection: MQTTConnection) throws(MQTTError) {
        try packet.encode(
            into: &connection.outbound, version: connection.version, maxPacketSize: connection.brokerMaximumPacketSize)
        if !connection.flushScheduled {
            connection.flushScheduled = true
            loop.execute { self.flush(connection) }
        }
    }

    private func flush(_ connection: MQTTConnection) {
        connection.flushScheduled = false
        guard connection.outbound.readableBytes > 0 else { return }
        let buffer = connection.outbound
        connection.outbound = connection.channel.allocator.buffer(capacity: max(4096, buffer.readableBytes))
        connection.channel.writeAndFlush(buffer, promise: nil)
    }

    private func sendPublish(_ publish: MQTTPublish, on connection: MQTTConnection, failing promise: PublishPromise?) {
        var publish = publish
        if connection.version == .v5 && configuration.usesOutgoingTopicAliases && connection.brokerTopicAliasMaximum > 0
        {
            if let alias = connection.outgoingAliases[publish.topic] {
                publish.properties.topicAlias = alias
                publish.topic = ""
                publishesSentByAlias += 1
            } else if connection.outgoingAliases.count < Int(connection.brokerTopicAliasMaximum) {
                let alias = UInt16(connection.outgoingAliases.count + 1)
                connection.outgoingAliases[publish.topic] = alias
                aliasesAssigned += 1
                publish.properties.topicAlias = alias
            }
        }
        do {
            try send(.publish(publish), on: connection)
        } catch {
            if let id = publish.packetIdentifier { inflight.removeValue(forKey: id) }
            if let promise {
                promise.fail(error)
            } else {
                logger.debug("QoS 0 message to \(publish.topic) not sent: \(error)")
            }
        }
    }

    private func allocatePacketID() -> UInt16 {
        repeat {
            nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
        } while inflight[nextPacketID] != nil || requests[nextPacketID] != nil
        return nextPacketID
    }

    /// Publishes everything the application handed over since the last drain.
    func drainSubmissions() {
        for (publish, promise) in submissions.take() {
            if let promise {
                self.publish(publish, promise: promise)
            } else {
                publishQoS0(publish)
            }
        }
        if let connection, connection.established, !connection.channel.isWritable {
            submissions.update(blocked: true)
        } else {
            submissions.update()
        }
    }

    private func publishQoS0(_ publish: MQTTPublish) {
        guard phase == .connected, let connection, connection.established, !connection.closing else {
            logger.debug("QoS 0 message to \(publish.topic) dropped: not connected")
            return
        }
        if publish.retain && !brokerRetainAvailable {
            logger.debug("retained QoS 0 message to \(publish.topic) dropped: the broker has no retain")
            return
        }
        sendPublish(publish, on: connection, failing: nil)
    }

    func publish(_ publish: MQTTPublish, promise: PublishPromise) {
        switch phase {
        case .closed:
            promise.fail(closeError ?? MQTTError.client(.clientShutDown, .unspecifiedError, "the client is closed"))
            return
        case .idle:
            promise.fail(MQTTError.client(.notConnected, .unspecifiedError, "connect first"))
            return
        case .connecting, .connected, .reconnecting:
            break
        }
        if publish.qos > brokerMaximumQoS {
            promise.fail(
                MQTTError(
                    .invalidArgument, reasonCode: .qosNotSupported, "the broker's Maximum QoS is \(brokerMaximumQoS)"))
            return
        }
        if publish.retain && !brokerRetainAvailable {
            promise.fail(MQTTError(.invalidArgument, reasonCode: .retainNotSupported, "the broker has no retain"))
            return
        }
        if publish.qos == .atMostOnce {
            guard let connection, connection.established, !connection.closing else {
                promise.fail(MQTTError.client(.notConnected, .unspecifiedError, "QoS 0 publish while disconnected"))
                return
            }
            sendPublish(publish, on: connection, failing: promise)
            if connection.channel.isWritable {
                promise.succeed(.success)
            } else {
                writabilityWaiters.append(promise)
            }
            return
        }
        if inflight.count < sendQuota && pendingPublishes.isEmpty {
            startInflight(publish, promise: promise)
        } else {
            pendingPublishes.append((publish, promise))
        }
    }

    private func startInflight(_ publish: MQTTPublish, promise: PublishPromise) {
        var publish = publish
        let id = allocatePacketID()
        publish.packetIdentifier = id
        publish.dup = false
        sequence += 1
        inflight[id] = Outgoing(publish: publish, awaitingPubcomp: false, sequence: sequence, promise: promise)
        if let connection, connection.established, !connection.closing {
            sendPublish(publish, on: connection, failing: promise)
        }
    }

    private func drainPending() {
        while inflight.count < sendQuota, let (publish, promise) = pendingPublishes.popFirst() {
            startInflight(publish, promise: promise)
        }
    }

    func request(_ request: Request, packet: (UInt16) -> MQTTPacket) -> MQTTError? {
        guard phase != .closed else { return closeError ?? .client(.clientShutDown, .unspecifiedError, "closed") }
        guard let connection, connection.established, !connection.closing else {
            return .client(.notConnected, .unspecifiedError, "not connected")
        }
        let id = allocatePacketID()
        requests[id] = request
        do {
            try send(packet(id), on: connection)
        } catch {
            requests.removeValue(forKey: id)
            return error
        }
        requestTimeouts[id] = loop.scheduleTask(in: configuration.requestTimeout) {
            self.requestTimeouts.removeValue(forKey: id)
            guard let request = self.requests.removeValue(forKey: id) else { return }
            let error = MQTTError.client(.timeout, .unspecifiedError, "no acknowledgement in time")
            switch request {
            case .subscribe(_, let promise): promise?.fail(error)
            case .unsubscribe(_, let promise): promise.fail(error)
            }
        }
        return nil
    }

    // MARK: - Closing

    /// Graceful: DISCONNECT with `reason`, then close. Everything still waiting fails with `clientShutDown`.
    func disconnect(reason: MQTTReasonCode, properties: MQTTProperties) -> EventLoopFuture<Void> {
        let connection = self.connection
        terminate(nil)
        guard let connection else { return loop.makeSucceededVoidFuture() }
        connection.closing = true
        if connection.established {
            let disconnect = MQTTDisconnect(reasonCode: reason, properties: properties)
            try? send(.disconnect(disconnect), on: connection)
        }
        let buffer = connection.outbound
        connection.outbound.clear()
        let channel = connection.channel
        return channel.writeAndFlush(buffer).flatMapError { _ in self.loop.makeSucceededVoidFuture() }.flatMap {
            channel.close().flatMapError { _ in self.loop.makeSucceededVoidFuture() }
        }
    }

    /// Closes the socket without DISCONNECT (the broker publishes the will) and stops the client.
    func abort() -> EventLoopFuture<Void> {
        let connection = self.connection
        terminate(nil)
        guard let connection else { return loop.makeSucceededVoidFuture() }
        connection.closing = true
        return connection.channel.close().flatMapError { _ in self.loop.makeSucceededVoidFuture() }
    }

    /// Stops for good: `error == nil` is a deliberate shutdown.
    func terminate(_ error: MQTTError?) {
        guard phase != .closed else { return }
        phase = .closed
        closeError = error
        reconnectTask?.cancel()
        reconnectTask = nil
        let failure = error ?? .client(.clientShutDown, .unspecifiedError, "the client was shut down")
        submissions.update(connected: false, blocked: false, closedError: failure)
        drainSubmissions()
        let outgoing = inflight.values.sorted { $0.sequence < $1.sequence }
        inflight.removeAll()
        for entry in outgoing { entry.promise.fail(failure) }
        while let (_, promise) = pendingPublishes.popFirst() { promise.fail(failure) }
        for (id, request) in requests {
            requestTimeouts.removeValue(forKey: id)?.cancel()
            switch request {
            case .subscribe(_, let promise): promise?.fail(failure)
            case .unsubscribe(_, let promise): promise.fail(failure)
            }
        }
        requests.removeAll()
        let waiters = writabilityWaiters
        writabilityWaiters.removeAll()
        for waiter in waiters { waiter.fail(failure) }
        let current = streams.values
        streams.removeAll()
        pausedStreams.removeAll()
        unrouted.removeAll()
        for stream in current { stream.finish(error.map { .failure($0) } ?? .success(())) }
        let closedWaiters = self.closedWaiters
        self.closedWaiters.removeAll()
        for waiter in closedWaiters {
            if let error { waiter.fail(error) } else { waiter.succeed() }
        }
    }

    /// A future that completes when the client stops for good.
    func closed() -> EventLoopFuture<Void> {
        if phase == .closed {
            if let closeError { return loop.makeFailedFuture(closeError) }
            return loop.makeSucceededVoidFuture()
        }
        let promise = loop.makePromise(of: Void.self)
        closedWaiters.append(promise)
        return promise.futureResult
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

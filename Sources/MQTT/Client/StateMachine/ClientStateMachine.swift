import NIOCore

/// The MQTT client's protocol logic as a value: it takes events (a packet received, a connection closed, a timer
/// fired, a publish submitted) and returns ``Action``s for the driver (``ClientCore``) to carry out. It owns no
/// socket, timer, promise or thread, so every rule (session resume, flow control, the QoS flows both ways, reconnect
/// backoff, keepalive, read pausing, routing) is tested directly, without a broker or a channel.
///
/// `PublishToken` and `RequestToken` stand for whatever the driver completes when a publish or a SUBSCRIBE /
/// UNSUBSCRIBE ends (promises there, plain values in tests); the state machine only hands them back in actions.
///
/// The file is split by concern: this one holds the state and the connection lifecycle,
/// `ClientStateMachine+Outgoing.swift` the outgoing QoS flows and `ClientStateMachine+Incoming.swift` the incoming
/// flows, routing, requests and read pausing.
struct ClientStateMachine<PublishToken, RequestToken> {
    enum Phase: Equatable {
        case idle
        case connecting
        case connected
        case reconnecting
        case closed
    }

    /// An outgoing QoS 1/2 message the broker has not acknowledged yet.
    struct Outgoing {
        var publish: MQTTPublish
        var awaitingPubcomp: Bool
        /// Whether the PUBLISH went out on some connection (a resend then carries DUP; a first send never does).
        var sent: Bool
        var sequence: UInt64
        /// The caller waiting for the outcome; `nil` for a message handed over with `enqueue` or recovered from the
        /// session store.
        var token: PublishToken?
        /// The session store's key for the message (`nil` without a store).
        var storeKey: UInt64?
    }

    /// A QoS 1/2 message waiting for room in the send window (or for a connection).
    struct Pending {
        var publish: MQTTPublish
        var token: PublishToken?
        var storeKey: UInt64?
    }

    /// A SUBSCRIBE or UNSUBSCRIBE waiting for its acknowledgement. A resubscribe after the broker lost the session,
    /// and the unsubscribe of an abandoned stream, have no token.
    enum Request {
        case subscribe([MQTTSubscription], RequestToken?)
        case unsubscribe([String], RequestToken?)
    }

    /// A subscription stream: its filters, compiled once.
    struct Route {
        var id: Int
        var filters: [String]
        var matcher: SubscriptionMatcher

        func matches(_ topic: String) -> Bool { matcher.matches(topic) }
    }

    /// What was negotiated on the current connection, and its state.
    struct Connection {
        let id: Int
        let version: MQTTProtocolVersion
        /// Whether CONNECT asks for a clean start (only the first connection may).
        let initial: Bool
        /// CONNACK received with success.
        var established = false
        /// Set once closing started (protocol violation, DISCONNECT, keepalive timeout, shutdown).
        var closing = false
        /// The broker's Receive Maximum.
        var brokerReceiveMaximum = 65535
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
        var pingOutstanding = false
        var readPaused = false
        /// The error that explains why the connection ended, when known.
        var lastError: MQTTError?
    }

    let configuration: MQTTClientConfiguration
    private(set) var phase = Phase.idle
    /// The current connection (from the start of the TCP connect until the socket closed).
    var connection: Connection?
    private(set) var clientID: String
    private(set) var reconnectAttempt = 0
    /// Why the client stopped for good, if it did.
    private(set) var closeError: MQTTError?

    // Session state, kept across connections.
    var nextPacketID: UInt16 = 0
    var inflight: [UInt16: Outgoing] = [:]
    var sequence: UInt64 = 0
    /// The send window: how many QoS 1/2 messages may be in flight.
    var sendQuota = 65535
    /// The send window this session learned from Quota exceeded refusals (nil: the broker's Receive Maximum holds).
    /// A broker restored from a stale save still counts QoS 2 flows the client completed, so it takes fewer
    /// messages in flight than it announces. Kept across reconnects of the same session.
    var learnedSendQuota: Int?
    /// Packet ids of the last QoS 2 flows completed (PUBCOMP), oldest first: the flows a stale broker may still hold.
    var recentQoS2Completions = CircularBuffer<UInt16>(initialCapacity: recentQoS2Limit)
    static var recentQoS2Limit: Int { 128 }
    /// Publishes waiting for room in the send window (or for a connection).
    var pending = CircularBuffer<Pending>()
    /// The broker's Maximum QoS and Retain Available (MQTT 5 CONNACK).
    var brokerMaximumQoS = MQTTQoS.exactlyOnce
    var brokerRetainAvailable = true
    /// QoS 2 packet ids received and not yet released (PUBREL).
    var incomingQoS2: Set<UInt16> = []
    /// QoS 2 packet ids whose PUBREC waits for a slow consumer to take the message
    /// (``MQTTSlowSubscriptionPolicy/isolate``).
    var withheldPubrecs: Set<UInt16> = []
    var requests: [UInt16: Request] = [:]
    var activeSubscriptions: [MQTTSubscription] = []
    var routes: [Route] = []
    var nextStreamID = 0
    /// Streams whose buffer is full. Kept across connections: a stream stays paused until its consumer drains
    /// it, so a new connection starts with reading paused too.
    var pausedStreams: Set<Int> = []
    /// Messages no stream matched yet (a resumed session's backlog before the application subscribes).
    var unrouted: UnroutedMessages

    // Statistics (for tests and diagnostics: counted, not timed).
    /// Connections that reached CONNACK.
    private(set) var connectionsEstablished = 0
    /// Topic aliases assigned and PUBLISH packets sent with an alias only.
    var aliasesAssigned = 0
    var publishesSentByAlias = 0
    /// PUBLISH packets over the maximum packet size, skipped.
    var oversizedMessagesSkipped = 0

    /// Whether session changes are reported as ``Action/persist(_:)`` (a session store is configured).
    let persistsSession: Bool

    init(configuration: MQTTClientConfiguration) {
        self.configuration = configuration
        self.persistsSession = configuration.sessionStore != nil
        self.unrouted = UnroutedMessages(capacity: configuration.subscriptionBufferCapacity)
        self.clientID =
            configuration.clientID.isEmpty
            ? "mqtt-swift-" + String(UInt64.random(in: 0...UInt64.max), radix: 36) : configuration.clientID
    }

    /// Whether a QoS 1/2 message is in flight or waiting for the send window.
    var hasOutgoing: Bool { !inflight.isEmpty || !pending.isEmpty }

    /// Whether the current connection can carry packets now.
    var isUsable: Bool {
        guard let connection else { return false }
        return connection.established && !connection.closing
    }

    /// The largest packet the broker accepts on the current connection.
    var brokerMaximumPacketSize: Int { connection?.brokerMaximumPacketSize ?? MQTTPacket.maximumPacketSize }

    /// The protocol version of the current connection (the configured one between connections).
    var version: MQTTProtocolVersion { connection?.version ?? configuration.protocolVersion }

    // MARK: - Connecting

    /// The driver starts opening connection `id` (TCP, then TLS).
    mutating func connectionStarted(id: Int, initial: Bool) {
        connection = Connection(id: id, version: configuration.protocolVersion, initial: initial)
        if phase != .reconnecting { phase = .connecting }
    }

    /// The first `connect()` failed: the client may be connected again.
    mutating func initialConnectFailed() {
        if phase == .connecting { phase = .idle }
    }

    /// The socket (and TLS) of connection `id` is up: send CONNECT.
    mutating func channelConnected(id: Int, _ actions: inout Actions) {
        guard let connection, connection.id == id else { return }
        var properties = MQTTProperties()
        if configuration.protocolVersion == .v5 {
            properties = configuration.connectProperties
            if configuration.sessionExpirySeconds > 0 {
                properties.sessionExpiryInterval = configuration.sessionExpirySeconds
            }
            if configuration.receiveMaximum != 65535 { properties.receiveMaximum = configuration.receiveMaximum }
            if configuration.maximumPacketSize < MQTTPacket.maximumPacketSize {
                properties.maximumPacketSize = UInt32(exactly: configuration.maximumPacketSize)
            }
            if configuration.topicAliasMaximum > 0 { properties.topicAliasMaximum = configuration.topicAliasMaximum }
        }
        actions.append(
            .sendConnect(
                MQTTConnect(
                    protocolVersion: configuration.protocolVersion,
                    cleanStart: connection.initial ? configuration.cleanStart : false,
                    keepAlive: configuration.keepAliveSeconds,
                    clientIdentifier: clientID,
                    username: configuration.username,
                    password: configuration.password,
                    will: configuration.will,
                    properties: properties)))
    }

    /// Connection `id` could not be opened (TCP connect failed, CONNECT not sent).
    mutating func connectionFailed(id: Int, _ error: MQTTError, _ actions: inout Actions) {
        guard let connection, connection.id == id else { return }
        self.connection = nil
        actions.append(.connectFailed(error))
    }

    /// No CONNACK within the connect timeout.
    mutating func connectTimedOut(id: Int, _ actions: inout Actions) {
        guard let connection, connection.id == id, !connection.established else { return }
        actions.append(.connectFailed(.client(.timeout, .unspecifiedError, "no CONNACK in time")))
        self.connection?.closing = true
        actions.append(.close)
    }

    mutating func handleConnAck(_ connack: MQTTConnAck, _ actions: inout Actions) {
        guard var connection else { return }
        guard !connack.reasonCode.isFailure else {
            let error = MQTTError.client(
                .connectionRefused, connack.reasonCode,
                "CONNACK \(connack.reasonCode)\(connack.properties.reasonString.map { ": " + $0 } ?? "")")
            connection.lastError = error
            connection.closing = true
            self.connection = connection
            actions.append(.connectFailed(error))
            actions.append(.close)
            return
        }
        connection.established = true
        let properties = connack.properties
        if let receiveMaximum = properties.receiveMaximum { connection.brokerReceiveMaximum = Int(receiveMaximum) }
        if connection.version == .v311 { connection.brokerReceiveMaximum = configuration.inflightLimitForMQTT311 }
        sendQuota = max(1, min(connection.brokerReceiveMaximum, 65000))
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
        let keepAlive = Int64(properties.serverKeepAlive ?? configuration.keepAliveSeconds)
        phase = .connected
        // The backoff starts over only once this connection has lasted: a broker that accepts and then drops
        // every connection (a crashed broker replaying a stale session) must not be hammered.
        actions.append(
            .connectionEstablished(
                keepAlive: keepAlive > 0 ? .seconds(keepAlive) : nil,
                resetBackoffAfter: reconnectAttempt > 0 ? TimeAmount(configuration.reconnect.resetAfter) : nil))
        if !pausedStreams.isEmpty {
            connection.readPaused = true
            actions.append(.pauseReading)
        }
        self.connection = connection
        actions.append(.log(.debug, "connected (session present: \(connack.sessionPresent))"))

        if !connack.sessionPresent {
            if persistsSession && !incomingQoS2.isEmpty { actions.append(.persist(.incomingCleared)) }
            incomingQoS2.removeAll()
            withheldPubrecs.removeAll()
            unrouted.forgetDeferredAcks()
            if !activeSubscriptions.isEmpty {
                let id = allocatePacketID()
                requests[id] = .subscribe(activeSubscriptions, nil)
                actions.append(
                    .sendRequest(
                        .subscribe(MQTTSubscribe(packetIdentifier: id, subscriptions: activeSubscriptions)),
                        packetIdentifier: id))
            }
        }
        // Session resume: resend what the broker has not acknowledged, in the original order.
        for entry in inflight.values.sorted(by: { $0.sequence < $1.sequence }) {
            guard let id = entry.publish.packetIdentifier else { continue }
            if entry.awaitingPubcomp {
                actions.append(.send(.pubrel(MQTTPubAck(packetIdentifier: id))))
            } else {
                var publish = entry.publish
                publish.dup = entry.sent
                inflight[id]?.sent = true
                actions.append(.sendPublish(aliased(publish), qos0Token: nil))
            }
        }
        drainPending(&actions)
        actions.append(.connectSucceeded(connack))
    }

    /// The connection lasted ``MQTTReconnectPolicy/resetAfter``: the backoff starts over.
    mutating func connectionLasted(id: Int) {
        if connection?.id == id { reconnectAttempt = 0 }
    }

    /// The keepalive timer of connection `id` fired.
    mutating func keepAliveTick(id: Int, _ actions: inout Actions) {
        guard var connection, connection.id == id, connection.established, !connection.closing else { return }
        defer { self.connection = connection }
        if connection.readPaused {
            // The PINGRESP may sit unread behind the backlog, so a missing one proves nothing while reading is
            // paused; but the broker must still see traffic, or it drops the connection after 1.5x keepalive.
            // A broker that has gone away makes this write fail, which closes the connection.
            connection.pingOutstanding = false
            actions.append(.send(.pingreq))
            return
        }
        if connection.pingOutstanding {
            connection.lastError = .client(.connectionClosed, .keepAliveTimeout, "no PINGRESP within keepalive")
            connection.closing = true
            actions.append(.close)
            return
        }
        connection.pingOutstanding = true
        actions.append(.send(.pingreq))
    }

    // MARK: - Connection events

    /// The socket reported `error` (already described in one sentence). The first error explains the close.
    mutating func connectionError(id: Int, _ error: MQTTError) {
        guard connection?.id == id, connection?.lastError == nil else { return }
        connection?.lastError = error
    }

    /// A malformed packet or a protocol violation from the broker: DISCONNECT (MQTT 5) and close.
    mutating func protocolViolation(_ error: MQTTError, id: Int, _ actions: inout Actions) {
        guard var connection, connection.id == id, !connection.closing else { return }
        actions.append(.log(.warning, "protocol violation by the broker: \(error)"))
        connection.closing = true
        let failure = MQTTError.client(.brokerProtocolViolation, error.reasonCode, "\(error)")
        connection.lastError = failure
        self.connection = connection
        if !connection.established { actions.append(.connectFailed(failure)) }
        // MQTT 5 lets the client send DISCONNECT with a reason code, also before CONNACK.
        actions.append(
            .closeAfterDisconnect(connection.version == .v5 ? MQTTDisconnect(reasonCode: error.reasonCode) : nil))
    }

    /// The socket of connection `id` closed.
    mutating func connectionClosed(id: Int, _ actions: inout Actions) {
        guard let connection, connection.id == id else { return }
        self.connection = nil
        let error =
            connection.lastError ?? .client(.connectionClosed, .unspecifiedError, "the broker closed the connection")
        failRequests(error, &actions)
        actions.append(.failWritabilityWaiters(error))
        guard connection.established else {
            actions.append(.connectFailed(error))
            return
        }
        actions.append(.connectionLost)
        guard phase == .connected else { return }
        actions.append(.log(.info, "connection lost: \(error)"))
        if configuration.reconnect.enabled {
            phase = .reconnecting
            scheduleReconnect(&actions)
        } else {
            terminate(error, &actions)
        }
    }

    /// The reconnect timer fired.
    mutating func reconnectTimerFired(_ actions: inout Actions) {
        guard phase == .reconnecting else { return }
        actions.append(.reconnect)
    }

    /// A reconnect attempt failed (no connection, or refused): try again after a longer backoff.
    mutating func reconnectFailed(_ error: MQTTError, _ actions: inout Actions) {
        guard phase == .reconnecting else { return }
        actions.append(.log(.debug, "reconnect attempt \(reconnectAttempt) failed: \(error)"))
        scheduleReconnect(&actions)
    }

    private mutating func scheduleReconnect(_ actions: inout Actions) {
        reconnectAttempt += 1
        if let maximum = configuration.reconnect.maximumAttempts, reconnectAttempt > maximum {
            terminate(.client(.reconnectLimitReached, .unspecifiedError, "gave up after \(maximum) attempts"), &actions)
            return
        }
        actions.append(.scheduleReconnect(attempt: reconnectAttempt))
    }

    // MARK: - Closing

    /// Graceful shutdown: everything still waiting fails with `clientShutDown`; DISCONNECT with `reason` is sent
    /// if a connection is established. The driver then flushes and closes the socket.
    mutating func disconnect(reason: MQTTReasonCode, properties: MQTTProperties, _ actions: inout Actions) {
        let established = isUsable
        terminate(nil, &actions)
        guard connection != nil else { return }
        connection?.closing = true
        if established {
            actions.append(.send(.disconnect(MQTTDisconnect(reasonCode: reason, properties: properties))))
        }
    }

    /// Closes without DISCONNECT (the broker publishes the will) and stops the client.
    mutating func abort(_ actions: inout Actions) {
        terminate(nil, &actions)
        connection?.closing = true
    }

    /// Stops for good: `error == nil` is a deliberate shutdown.
    mutating func terminate(_ error: MQTTError?, _ actions: inout Actions) {
        guard phase != .closed else { return }
        phase = .closed
        closeError = error
        let failure = error ?? .client(.clientShutDown, .unspecifiedError, "the client was shut down")
        actions.append(.terminated(error))
        let outgoing = inflight.values.sorted { $0.sequence < $1.sequence }
        inflight.removeAll()
        // With a session store the messages stay in it (no `finished` record): the next client with this store sends
        // them.
        for entry in outgoing { reportFailure(entry.token, failure, &actions) }
        while let entry = pending.popFirst() { reportFailure(entry.token, failure, &actions) }
        failRequests(failure, &actions)
        actions.append(.failWritabilityWaiters(failure))
        let current = routes
        routes.removeAll()
        pausedStreams.removeAll()
        withheldPubrecs.removeAll()
        unrouted.removeAll()
        for route in current { actions.append(.finishStream(id: route.id, error: error)) }
    }

    private mutating func failRequests(_ error: MQTTError, _ actions: inout Actions) {
        for (id, request) in requests.sorted(by: { $0.key < $1.key }) {
            actions.append(.cancelRequestTimer(id))
            fail(request, error, &actions)
        }
        requests.removeAll()
    }

    /// Takes over the session a store recovered, before the first connection: its unacknowledged messages go out
    /// first (resent with DUP when they had a packet id, as on a reconnect), and its QoS 2 receive state and packet
    /// ids stay in force.
    mutating func restore(_ session: RecoveredSession) {
        for entry in session.outgoing {
            sequence += 1
            var publish = entry.publish.publish
            guard let id = entry.packetIdentifier, inflight[id] == nil else {
                pending.append(Pending(publish: publish, token: nil, storeKey: entry.key))
                continue
            }
            publish.packetIdentifier = id
            inflight[id] = Outgoing(
                publish: publish, awaitingPubcomp: entry.released, sent: true, sequence: sequence, token: nil,
                storeKey: entry.key)
        }
        incomingQoS2 = session.incomingQoS2
        nextPacketID = session.lastPacketIdentifier
    }

    mutating func allocatePacketID() -> UInt16 {
        repeat {
            nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
        } while inflight[nextPacketID] != nil || requests[nextPacketID] != nil
        return nextPacketID
    }
}

import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The result of a QoS 1/2 publish: the broker's reason code (success or, e.g.,
/// ``MQTTReasonCode/noMatchingSubscribers``). QoS 0 reports ``MQTTReasonCode/success`` once written.
typealias PublishPromise = EventLoopPromise<MQTTReasonCode>

/// The driver of ``ClientStateMachine``: it owns the sockets (one ``MQTTConnection`` at a time), the timers, the
/// promises and the subscription streams, feeds every event to the state machine and carries out the actions it
/// returns. It decides nothing about the protocol itself.
///
/// Every method runs on `loop` (asserted in debug builds); that confinement is what makes the `@unchecked Sendable`
/// sound. Actions may complete promises, whose callbacks run inline and may call back into the core: each event
/// works on its own ``ClientStateMachine/Actions``, so a nested event never disturbs the batch being carried out.
final class ClientCore: @unchecked Sendable {
    /// What a SUBSCRIBE or UNSUBSCRIBE completes.
    enum RequestPromise {
        case subscribe(EventLoopPromise<(MQTTSubAck, MQTTMessageStream?)>)
        case unsubscribe(EventLoopPromise<MQTTUnsubAck>)
    }

    typealias StateMachine = ClientStateMachine<PublishPromise, RequestPromise>
    typealias Actions = StateMachine.Actions

    let loop: EventLoop
    let configuration: MQTTClientConfiguration
    let sslContext: NIOSSLContext?
    private var logger: Logger
    private var machine: StateMachine
    /// The socket of the state machine's current connection, once the TCP connect began.
    private var connection: MQTTConnection?
    private var nextConnectionID = 0
    private var pendingConnect: EventLoopPromise<MQTTConnAck>?
    private var reconnectTask: Scheduled<Void>?
    private var requestTimers: [UInt16: Scheduled<Void>] = [:]
    private var streams: [Int: StreamBox] = [:]
    /// Streams whose waiting consumer is woken when the current socket read has been delivered.
    private var streamsToWake: [StreamBox] = []
    /// The withheld acknowledgement of the message being delivered, between its `deliver` and `acknowledge`
    /// actions (``MQTTSlowSubscriptionPolicy/isolate``).
    private var acknowledgementHold: AcknowledgementHold?
    /// Socket reads completed: a stream full since an earlier read has a consumer that is not keeping up.
    private var socketReads = 0
    /// QoS 0 publishes whose caller waits for the socket to become writable.
    private var writabilityWaiters: [PublishPromise] = []
    private var closedWaiters: [EventLoopPromise<Void>] = []
    /// Callers of `waitUntilAcknowledged()`: completed once no QoS 1/2 message is in flight or waiting.
    private var acknowledgementWaiters: [EventLoopPromise<Void>] = []
    let submissions = PublishSubmissions()
    /// The on-disk session, when configured.
    private let store: SessionStore?
    private var storeCommitScheduled = false

    init(configuration: MQTTClientConfiguration, loop: EventLoop, sslContext: NIOSSLContext?, store: SessionStore?) {
        self.configuration = configuration
        self.loop = loop
        self.sslContext = sslContext
        self.store = store
        self.machine = StateMachine(configuration: configuration)
        self.logger = configuration.logger
        logger[metadataKey: "mqtt.client"] = .string(machine.clientID)
        if let store {
            let session = store.session
            machine.restore(session)
            if store.droppedTornTail {
                logger.warning("the session store's last record was torn (a crash mid-write): dropped")
            }
            if !session.isEmpty {
                logger.info(
                    "resuming the stored session: \(session.outgoingByKey.count) unacknowledged messages, \(session.incomingQoS2.count) open incoming QoS 2 flows"
                )
            }
        }
    }

    // MARK: - State, for the client facade and tests

    var phase: StateMachine.Phase {
        loop.assertInEventLoop()
        return machine.phase
    }

    var clientID: String {
        loop.assertInEventLoop()
        return machine.clientID
    }

    var oversizedMessagesSkipped: Int {
        loop.assertInEventLoop()
        return machine.oversizedMessagesSkipped
    }

    /// Connections that reached CONNACK, and the send window now.
    var connectionStatistics: (established: Int, sendQuota: Int) {
        loop.assertInEventLoop()
        return (machine.connectionsEstablished, machine.sendQuota)
    }

    /// Topic aliases assigned, and PUBLISH packets sent with an alias only.
    var aliasStatistics: (assigned: Int, sentByAlias: Int) {
        loop.assertInEventLoop()
        return (machine.aliasesAssigned, machine.publishesSentByAlias)
    }

    // MARK: - Events from the client facade

    func connect(initial: Bool) -> EventLoopFuture<MQTTConnAck> {
        loop.preconditionInEventLoop()
        let promise = loop.makePromise(of: MQTTConnAck.self)
        pendingConnect = promise
        nextConnectionID += 1
        let id = nextConnectionID
        machine.connectionStarted(id: id, initial: initial)
        let version = configuration.protocolVersion
        let sslContext = self.sslContext
        let serverName = configuration.tls?.serverName ?? configuration.host
        let sni: String? = Self.isIPAddress(serverName) ? nil : serverName
        let maximumPacketSize = configuration.maximumPacketSize
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: sni))
                    }
                    let makeHandler = { @Sendable in
                        MQTTChannelHandler(
                            core: self, connectionID: id, version: version, maximumPacketSize: maximumPacketSize)
                    }
                    if let webSocket = self.configuration.webSocket {
                        try WebSocketTransport.addHandshake(
                            to: channel, options: webSocket, host: self.configuration.host,
                            port: self.configuration.port, core: self, connectionID: id, makeMQTTHandler: makeHandler)
                    } else {
                        try channel.pipeline.syncOperations.addHandler(makeHandler())
                    }
                    self.connection = MQTTConnection(id: id, channel: channel)
                }
            }
        let connected: EventLoopFuture<any Channel>
        do {
            if let localAddress = configuration.localAddress {
                _ = bootstrap.bind(to: try SocketAddress(ipAddress: localAddress, port: 0))
            }
            if let path = configuration.unixSocketPath {
                connected = bootstrap.connect(unixDomainSocketPath: path)
            } else {
                connected = bootstrap.connect(host: configuration.host, port: configuration.port)
            }
        } catch {
            connected = loop.makeFailedFuture(error)
        }
        connected.whenComplete { result in
            var actions = Actions()
            switch result {
            case .failure(let error):
                let mapped = MQTTError.client(
                    .connectionClosed, .unspecifiedError,
                    "cannot connect to \(self.configuration.unixSocketPath ?? "\(self.configuration.host):\(self.configuration.port)"): "
                        + ConnectionFailure.describe(error))
                if self.connection?.id == id { self.connection = nil }
                self.machine.connectionFailed(id: id, mapped, &actions)
            case .success where self.configuration.webSocket != nil:
                // CONNECT waits for the upgrade (webSocketUpgraded), bounded like the CONNACK.
                if let connection = self.connection, connection.id == id {
                    connection.connectTimeout = self.loop.scheduleTask(
                        in: TimeAmount(self.configuration.connectTimeout)
                    ) {
                        self.connectionError(
                            MQTTError.client(.timeout, .unspecifiedError, "no answer to the WebSocket upgrade in time"),
                            connectionID: id)
                        connection.channel.close(promise: nil)
                    }
                }
            case .success:
                self.machine.channelConnected(id: id, &actions)
            }
            self.run(actions)
        }
        return promise.futureResult
    }

    /// The first `connect()` failed.
    func initialConnectFailed() {
        loop.assertInEventLoop()
        machine.initialConnectFailed()
    }

    /// Publishes everything the application handed over since the last drain.
    func drainSubmissions() {
        loop.assertInEventLoop()
        var actions = Actions()
        let taken = submissions.take()
        // With a session store, the batch's QoS 1/2 messages are stored (one write) before the state machine sees
        // them; if the store refuses, none of them is accepted.
        var keys: [UInt64] = []
        var storeError: MQTTError?
        if let store, machine.phase != .closed, machine.phase != .idle {
            var toStore: [MQTTPublish] = []
            for submission in taken {
                switch submission {
                case .qos0: break
                case .acknowledged(let publish, _), .enqueued(let publish, _): toStore.append(publish)
                }
            }
            if !toStore.isEmpty {
                do throws(MQTTError) {
                    keys = try store.accept(toStore)
                } catch {
                    storeError = error
                }
            }
        }
        var nextKey = keys.makeIterator()
        var accepted: [EventLoopPromise<Void>] = []
        for submission in taken {
            switch submission {
            case .qos0(let publish):
                machine.publishQoS0(publish, &actions)
            case .acknowledged(let publish, let promise):
                if let storeError {
                    promise.fail(storeError)
                } else {
                    machine.publish(publish, token: promise, storeKey: nextKey.next(), &actions)
                }
            case .enqueued(let publish, let promise):
                if let storeError {
                    promise.fail(storeError)
                } else {
                    machine.publish(publish, token: nil, storeKey: nextKey.next(), &actions)
                    accepted.append(promise)
                }
            }
        }
        run(actions)
        for promise in accepted { promise.succeed() }
        if let connection, machine.isUsable, !connection.channel.isWritable {
            submissions.update(blocked: true)
        } else {
            submissions.update()
        }
    }

    /// A SUBSCRIBE or UNSUBSCRIBE; its promise completes on the acknowledgement or fails.
    func request(_ request: StateMachine.Request, packet: (UInt16) -> MQTTPacket) {
        loop.assertInEventLoop()
        var actions = Actions()
        machine.request(request, packet: packet, &actions)
        run(actions)
    }

    /// The broker acknowledged UNSUBSCRIBE: streams whose filters are all removed end.
    func removeFilters(_ filters: [String]) {
        loop.assertInEventLoop()
        var actions = Actions()
        machine.removeFilters(filters, &actions)
        run(actions)
    }

    /// Graceful: DISCONNECT with `reason`, then close. Everything still waiting fails with `clientShutDown`.
    func disconnect(reason: MQTTReasonCode, properties: MQTTProperties) -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        var actions = Actions()
        machine.disconnect(reason: reason, properties: properties, &actions)
        run(actions)
        commitStore()
        guard let connection else { return loop.makeSucceededVoidFuture() }
        let buffer = connection.outbound
        connection.outbound.clear()
        let channel = connection.channel
        return channel.writeAndFlush(buffer).flatMapError { _ in self.loop.makeSucceededVoidFuture() }.flatMap {
            channel.close().flatMapError { _ in self.loop.makeSucceededVoidFuture() }
        }
    }

    /// Closes the socket without DISCONNECT (the broker publishes the will) and stops the client.
    func abort() -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        var actions = Actions()
        machine.abort(&actions)
        run(actions)
        guard let connection else { return loop.makeSucceededVoidFuture() }
        return connection.channel.close().flatMapError { _ in self.loop.makeSucceededVoidFuture() }
    }

    /// A future that completes once no QoS 1/2 message is in flight or waiting for the send window.
    func acknowledged() -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        if machine.phase == .closed, machine.hasOutgoing || store?.session.outgoingByKey.isEmpty == false {
            return loop.makeFailedFuture(
                machine.closeError ?? .client(.clientShutDown, .unspecifiedError, "the client was shut down"))
        }
        guard machine.hasOutgoing else { return loop.makeSucceededVoidFuture() }
        let promise = loop.makePromise(of: Void.self)
        acknowledgementWaiters.append(promise)
        return promise.futureResult
    }

    /// A future that completes when the client stops for good.
    func closed() -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        if machine.phase == .closed {
            if let error = machine.closeError { return loop.makeFailedFuture(error) }
            return loop.makeSucceededVoidFuture()
        }
        let promise = loop.makePromise(of: Void.self)
        closedWaiters.append(promise)
        return promise.futureResult
    }

    // MARK: - Events from the channel

    func received(_ packet: MQTTPacket, connectionID: Int) {
        loop.assertInEventLoop()
        var actions = Actions()
        machine.received(packet, connectionID: connectionID, &actions)
        run(actions)
    }

    func skippedOversizedPublish(topic: String, qos: MQTTQoS, packetIdentifier: UInt16?, size: Int, connectionID: Int) {
        loop.assertInEventLoop()
        var actions = Actions()
        machine.skippedOversizedPublish(
            topic: topic, qos: qos, packetIdentifier: packetIdentifier, size: size, connectionID: connectionID,
            &actions)
        run(actions)
    }

    func protocolViolation(_ error: MQTTError, connectionID: Int) {
        loop.assertInEventLoop()
        var actions = Actions()
        machine.protocolViolation(error, id: connectionID, &actions)
        run(actions)
    }

    /// The end of one socket read: wakes each consumer that waited for messages once, however many arrived.
    func readComplete() {
        loop.assertInEventLoop()
        socketReads &+= 1
        guard !streamsToWake.isEmpty else { return }
        let streams = streamsToWake
        streamsToWake.removeAll(keepingCapacity: true)
        for stream in streams { stream.wakeConsumer() }
    }

    /// The WebSocket upgrade of connection `connectionID` succeeded: send CONNECT.
    func webSocketUpgraded(connectionID: Int) {
        loop.assertInEventLoop()
        guard let connection, connection.id == connectionID else { return }
        connection.connectTimeout?.cancel()
        connection.connectTimeout = nil
        var actions = Actions()
        machine.channelConnected(id: connectionID, &actions)
        run(actions)
    }

    func connectionError(_ error: Error, connectionID: Int) {
        loop.assertInEventLoop()
        guard let state = machine.connection, state.id == connectionID, state.lastError == nil else { return }
        let host = configuration.tls?.serverName ?? configuration.host
        let mapped: MQTTError
        if let error = error as? MQTTError {
            mapped = error
        } else if let sentence = WebSocketTransport.describe(error) {
            mapped = .client(.connectionClosed, .unspecifiedError, sentence)
        } else if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            mapped = .client(.tlsFailure, .unspecifiedError, ConnectionFailure.tlsCause(error, host: host))
        } else if sslContext != nil, !state.established, ConnectionFailure.isPlainPeerDuringHandshake(error) {
            mapped = .client(
                .tlsFailure, .unspecifiedError,
                "the server closed the connection during the TLS handshake (is this a TLS port?)")
        } else if let io = error as? IOError {
            mapped = .client(.connectionClosed, .unspecifiedError, ConnectionFailure.describe(io))
        } else {
            mapped = .client(.connectionClosed, .unspecifiedError, "\(error)")
        }
        machine.connectionError(id: connectionID, mapped)
    }

    func connectionClosed(connectionID: Int) {
        loop.assertInEventLoop()
        if let connection, connection.id == connectionID {
            self.connection = nil
            connection.cancelTimers()
        }
        readComplete()
        var actions = Actions()
        machine.connectionClosed(id: connectionID, &actions)
        run(actions)
    }

    func writabilityChanged(connectionID: Int, isWritable: Bool) {
        loop.assertInEventLoop()
        guard let connection, connection.id == connectionID else { return }
        submissions.update(blocked: !isWritable)
        guard isWritable else { return }
        let waiters = writabilityWaiters
        writabilityWaiters.removeAll()
        for waiter in waiters { waiter.succeed(.success) }
    }

    /// Nobody holds stream `id` any more (called from whichever thread dropped the last reference).
    private func streamAbandoned(_ id: Int) {
        loop.execute {
            var actions = Actions()
            self.machine.streamAbandoned(id, &actions)
            self.run(actions)
        }
    }

    /// Ends stream `id` as if it had been dropped, and unsubscribes its filters that no other stream uses; the
    /// future completes with that UNSUBACK, or at once with none when nothing had to be unsubscribed.
    func endStream(_ id: Int) -> EventLoopFuture<MQTTUnsubAck?> {
        loop.assertInEventLoop()
        let promise = loop.makePromise(of: MQTTUnsubAck.self)
        var actions = Actions()
        let requested = machine.streamAbandoned(id, token: .unsubscribe(promise), &actions)
        run(actions)
        guard requested else {
            promise.succeed(MQTTUnsubAck(packetIdentifier: 0))
            return loop.makeSucceededFuture(nil)
        }
        return promise.futureResult.map { $0 }
    }

    /// A consumer took messages whose acknowledgement was withheld (called from the consumer's thread).
    private func withheldAcknowledgementsTaken(_ acks: [UnroutedMessages.DeferredAck]) {
        loop.execute {
            var actions = Actions()
            self.machine.withheldAcknowledgementsTaken(acks, &actions)
            self.run(actions)
        }
    }

    /// A stream's consumer drained it (called from the consumer's thread).
    ///
    /// By the time this runs on the event loop, the rest of a read burst may have filled the stream again (its
    /// `yield` then found the stream still marked resumed, marked it paused and asked to pause while reading was
    /// still paused). Resuming now would leave reading on with the stream marked paused, so nothing would pause it
    /// again and its buffer would grow without bound: the stream's own flag decides.
    private func streamDrained(_ id: Int) {
        loop.execute {
            if let stream = self.streams[id], stream.isPaused { return }
            var actions = Actions()
            self.machine.streamDrained(id, &actions)
            self.run(actions)
        }
    }

    // MARK: - Carrying out actions

    private func run(_ actions: Actions) {
        actions.forEach(perform)
        if !acknowledgementWaiters.isEmpty, !machine.hasOutgoing {
            let waiters = acknowledgementWaiters
            acknowledgementWaiters.removeAll()
            for waiter in waiters { waiter.succeed() }
        }
    }

    /// Writes the session store's buffered records; a failure is logged, and new messages are refused while it
    /// stands (``SessionStore/accept(_:)`` retries the write first).
    private func commitStore() {
        storeCommitScheduled = false
        guard let store, store.hasBufferedRecords else { return }
        do throws(MQTTError) {
            try store.commit()
        } catch {
            logger.error("\(error)")
        }
    }

    private func perform(_ action: StateMachine.Action) {
        switch action {
        case .sendConnect(let connect):
            guard let connection else { return }
            do {
                try encode(.connect(connect), on: connection)
            } catch {
                fail(connecting: error)
                connection.channel.close(promise: nil)
                return
            }
            let id = connection.id
            connection.connectTimeout = loop.scheduleTask(in: TimeAmount(configuration.connectTimeout)) {
                var actions = Actions()
                self.machine.connectTimedOut(id: id, &actions)
                self.run(actions)
            }
        case .connectionEstablished(let keepAlive, let resetBackoffAfter):
            guard let connection else { return }
            connection.connectTimeout?.cancel()
            connection.connectTimeout = nil
            let id = connection.id
            if let keepAlive {
                connection.keepAliveTask = loop.scheduleRepeatedTask(initialDelay: keepAlive, delay: keepAlive) { _ in
                    var actions = Actions()
                    self.machine.keepAliveTick(id: id, &actions)
                    self.run(actions)
                }
            }
            if let resetBackoffAfter {
                connection.stableTask = loop.scheduleTask(in: resetBackoffAfter) {
                    self.machine.connectionLasted(id: id)
                }
            }
            submissions.update(connected: true, blocked: !connection.channel.isWritable)
        case .connectSucceeded(let connack):
            pendingConnect?.succeed(connack)
            pendingConnect = nil
        case .connectFailed(let error):
            fail(connecting: error)
        case .close:
            connection?.channel.close(promise: nil)
        case .closeAfterDisconnect(let disconnect):
            guard let connection else { return }
            connection.connectTimeout?.cancel()
            if let disconnect {
                try? MQTTPacket.disconnect(disconnect).encode(into: &connection.outbound, version: .v5)
            }
            commitStore()
            let buffer = connection.outbound
            connection.outbound.clear()
            let channel = connection.channel
            channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
        case .pauseReading:
            guard let connection else { return }
            _ = connection.channel.setOption(.autoRead, value: false)
        case .resumeReading:
            guard let connection else { return }
            _ = connection.channel.setOption(.autoRead, value: true)
            connection.channel.read()
        case .connectionLost:
            submissions.update(connected: false, blocked: false)
        case .scheduleReconnect(let attempt):
            reconnectTask = loop.scheduleTask(in: configuration.reconnect.delay(attempt: attempt)) {
                var actions = Actions()
                self.machine.reconnectTimerFired(&actions)
                self.run(actions)
            }
        case .reconnect:
            connect(initial: false).whenFailure { error in
                var actions = Actions()
                self.machine.reconnectFailed(
                    error as? MQTTError ?? .client(.connectionClosed, .unspecifiedError, "\(error)"), &actions)
                self.run(actions)
            }
        case .send(let packet):
            guard let connection else { return }
            try? encode(packet, on: connection)
        case .sendPublish(let publish, let qos0Token):
            send(publish, qos0Token: qos0Token)
        case .sendRequest(let packet, let id):
            guard let connection else { return }
            do {
                try encode(packet, on: connection)
            } catch {
                var actions = Actions()
                machine.requestNotSent(packetIdentifier: id, error: error, &actions)
                run(actions)
            }
        case .persist(let record):
            guard let store else { return }
            store.append(record)
            if !storeCommitScheduled {
                storeCommitScheduled = true
                loop.execute { self.commitStore() }
            }
        case .succeedPublish(let promise, let code):
            promise.succeed(code)
        case .failPublish(let promise, let error):
            promise.fail(error)
        case .startRequestTimer(let id):
            requestTimers[id] = loop.scheduleTask(in: TimeAmount(configuration.requestTimeout)) {
                self.requestTimers.removeValue(forKey: id)
                var actions = Actions()
                self.machine.requestTimedOut(packetIdentifier: id, &actions)
                self.run(actions)
            }
        case .cancelRequestTimer(let id):
            requestTimers.removeValue(forKey: id)?.cancel()
        case .succeedSubscribe(let token, let suback, let streamID):
            guard case .subscribe(let promise) = token else { return }
            let box = streamID.flatMap { streams[$0] }
            promise.succeed(
                (
                    suback,
                    box.map {
                        MQTTMessageStream(
                            topicFilters: $0.topicFilters, grantedReasonCodes: suback.reasonCodes, box: $0,
                            lifetime: StreamLifetime(id: $0.id) { [weak self] id in self?.streamAbandoned(id) })
                    }
                ))
        case .succeedUnsubscribe(let token, let unsuback):
            guard case .unsubscribe(let promise) = token else { return }
            promise.succeed(unsuback)
        case .failRequest(let token, let error):
            switch token {
            case .subscribe(let promise): promise.fail(error)
            case .unsubscribe(let promise): promise.fail(error)
            }
        case .failWritabilityWaiters(let error):
            let waiters = writabilityWaiters
            writabilityWaiters.removeAll()
            for waiter in waiters { waiter.fail(error) }
        case .openStream(let id, let filters):
            streams[id] = StreamBox(
                id: id, topicFilters: filters, capacity: configuration.subscriptionBufferCapacity,
                policy: configuration.slowSubscriptionPolicy,
                onResume: { [weak self] id in self?.streamDrained(id) },
                onRelease: { [weak self] acks in self?.withheldAcknowledgementsTaken(acks) })
        case .deliver(let message, let id, let ack):
            guard let stream = streams[id] else { return }
            let outcome = stream.yield(message, ack: ack, hold: &acknowledgementHold, read: socketReads)
            if outcome.wakeConsumer { streamsToWake.append(stream) }
            if outcome.firstDrop {
                logger.warning(
                    "the subscription to \(stream.topicFilters) does not keep up: its QoS 0 messages are dropped while its buffer is full"
                )
            }
            if outcome.pauseReading {
                var actions = Actions()
                machine.streamFull(id, &actions)
                run(actions)
            }
        case .acknowledge(let ack):
            // Sent now, unless a stream holds the message with its acknowledgement withheld: then whoever lets go
            // of the last reference sends it (this one, when the consumer already took the message).
            if let hold = acknowledgementHold {
                acknowledgementHold = nil
                guard hold.release() else {
                    machine.acknowledgementWithheld(ack)
                    return
                }
            }
            switch ack {
            case .puback(let id, _): perform(.send(.puback(MQTTPubAck(packetIdentifier: id))))
            case .pubrec(let id): perform(.send(.pubrec(MQTTPubAck(packetIdentifier: id))))
            }
        case .finishStream(let id, let error, let discard):
            guard let stream = streams.removeValue(forKey: id) else { return }
            stream.finish(error.map { .failure($0) } ?? .success(()))
            if discard {
                let due = stream.discardBuffered()
                if !due.isEmpty {
                    var actions = Actions()
                    machine.withheldAcknowledgementsTaken(due, &actions)
                    run(actions)
                }
            }
        case .terminated(let error):
            reconnectTask?.cancel()
            reconnectTask = nil
            let failure = error ?? .client(.clientShutDown, .unspecifiedError, "the client was shut down")
            submissions.update(connected: false, blocked: false, closedError: failure)
            drainSubmissions()
            // The store is released (written, unlocked) once the client stops: a new client may take it over.
            commitStore()
            store?.close()
            let acknowledgementWaiters = self.acknowledgementWaiters
            self.acknowledgementWaiters.removeAll()
            for waiter in acknowledgementWaiters { waiter.fail(failure) }
            let waiters = closedWaiters
            closedWaiters.removeAll()
            for waiter in waiters {
                if let error { waiter.fail(error) } else { waiter.succeed() }
            }
        case .log(let level, let message):
            logger.log(level: level, "\(message)")
        }
    }

    private func fail(connecting error: MQTTError) {
        connection?.connectTimeout?.cancel()
        connection?.connectTimeout = nil
        pendingConnect?.fail(error)
        pendingConnect = nil
    }

    /// Sends a PUBLISH; a QoS 0 caller that waits learns when it was written (or waits for writability).
    private func send(_ publish: MQTTPublish, qos0Token: PublishPromise?) {
        guard let connection else { return }
        do {
            try encode(.publish(publish), on: connection)
        } catch {
            if let id = publish.packetIdentifier {
                var actions = Actions()
                machine.publishNotSent(packetIdentifier: id, error: error, &actions)
                run(actions)
            } else if let qos0Token {
                qos0Token.fail(error)
            } else {
                logger.debug("QoS 0 message to \(publish.topic) not sent: \(error)")
            }
            return
        }
        guard let qos0Token else { return }
        if connection.channel.isWritable {
            qos0Token.succeed(.success)
        } else {
            writabilityWaiters.append(qos0Token)
        }
    }

    /// Encodes `packet` into the connection's outgoing buffer; the buffer is flushed once per loop tick.
    private func encode(_ packet: MQTTPacket, on connection: MQTTConnection) throws(MQTTError) {
        try packet.encode(
            into: &connection.outbound, version: machine.version, maxPacketSize: machine.brokerMaximumPacketSize)
        if !connection.flushScheduled {
            connection.flushScheduled = true
            loop.execute { self.flush(connection) }
        }
    }

    private func flush(_ connection: MQTTConnection) {
        connection.flushScheduled = false
        guard connection.outbound.readableBytes > 0 else { return }
        // The store's records reach the file before the packets that depend on them reach the broker.
        commitStore()
        let buffer = connection.outbound
        connection.outbound = connection.channel.allocator.buffer(capacity: max(4096, buffer.readableBytes))
        connection.channel.writeAndFlush(buffer, promise: nil)
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

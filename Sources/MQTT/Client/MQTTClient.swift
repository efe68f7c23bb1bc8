public import NIOCore
public import NIOPosix
import NIOSSL
public import ServiceLifecycle

/// An MQTT 3.1.1 / 5.0 client on SwiftNIO.
///
/// ```swift
/// let client = try MQTTClient(configuration: .init(host: "127.0.0.1", port: 1883))
/// try await client.connect()
/// let messages = try await client.subscribe(to: "sensors/#", qos: .atLeastOnce)
/// try await client.publish(to: "sensors/1", payload: ByteBuffer(string: "21.5"), qos: .atLeastOnce)
/// for try await message in messages { print(message.topic, message.payloadString) }
/// try await client.disconnect()
/// ```
///
/// All state lives on one event loop. Packets written in one loop tick are flushed together.
/// QoS 1/2 publishes are pipelined up to the broker's Receive Maximum; more wait in a queue whose
/// length is bounded by the number of waiting callers. After a lost connection the client
/// reconnects (``MQTTReconnectPolicy``), resumes the session (resending unacknowledged PUBLISH with
/// DUP and PUBREL) and resubscribes when the broker lost the session.
///
/// The client is a swift-service-lifecycle `Service`: ``run()`` connects and disconnects
/// gracefully on shutdown.
public final class MQTTClient: Sendable, Service {
    /// The configuration.
    public let configuration: MQTTClientConfiguration
    let core: ClientCore

    /// Creates a client; nothing is connected yet.
    ///
    /// With ``MQTTClientConfiguration/sessionStore`` set, the store is opened (and locked) here, and the session it
    /// holds is resumed by the first ``connect()``: its unacknowledged messages are sent first.
    ///
    /// - Throws: ``MQTTError`` with ``MQTTError/Code/tlsFailure`` when the TLS files cannot be loaded;
    ///   ``MQTTError/Code/sessionStoreFailed`` or ``MQTTError/Code/sessionStoreMismatch`` when the session store
    ///   cannot be used; ``MQTTError/Code/invalidArgument`` for a session store without a fixed client id and
    ///   `cleanStart` false.
    public init(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        try configuration.validateTimes()
        self.configuration = configuration
        var sslContext: NIOSSLContext?
        if let tls = configuration.tls {
            do {
                var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
                // A CA file, a CA folder, or both (the folder then adds to the file's roots).
                switch (tls.caFile, tls.caDirectory) {
                case (let file?, let directory?):
                    tlsConfiguration.trustRoots = .file(file)
                    tlsConfiguration.additionalTrustRoots = [.file(directory)]
                case (let file?, nil): tlsConfiguration.trustRoots = .file(file)
                case (nil, let directory?): tlsConfiguration.trustRoots = .file(directory)
                case (nil, nil): break
                }
                tlsConfiguration.minimumTLSVersion = tls.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
                if let certificateFile = tls.certificateFile {
                    tlsConfiguration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                        .certificate($0)
                    }
                }
                if let keyFile = tls.privateKeyFile {
                    tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
                }
                tlsConfiguration.certificateVerification =
                    tls.verifiesHostname ? .fullVerification : .noHostnameVerification
                sslContext = try NIOSSLContext(configuration: tlsConfiguration)
            } catch {
                throw MQTTError.client(.tlsFailure, .unspecifiedError, "cannot load TLS files: \(error)")
            }
        }
        var store: SessionStore?
        if let options = configuration.sessionStore {
            guard !configuration.clientID.isEmpty, !configuration.cleanStart else {
                throw MQTTError(
                    .invalidArgument, reasonCode: .implementationSpecificError,
                    "a session store needs a persistent session: a fixed client id and cleanStart false")
            }
            store = try SessionStore(options: options, clientID: configuration.clientID)
        }
        self.core = ClientCore(
            configuration: configuration, loop: eventLoopGroup.next(), sslContext: sslContext, store: store)
    }

    /// The client identifier in use (the broker may assign one in MQTT 5).
    public var clientID: String {
        get async { (try? await core.loop.submit { self.core.clientID }.get()) ?? configuration.clientID }
    }

    /// Whether a connection is established now.
    public var isConnected: Bool {
        get async {
            (try? await core.loop.submit { self.core.phase == .connected }.get()) ?? false
        }
    }

    /// Messages the broker sent although they exceed ``MQTTClientConfiguration/maximumPacketSize``: each was skipped
    /// with an error in the log (and, for QoS 1/2, acknowledged so that it is not resent), the connection kept.
    public var oversizedMessagesSkipped: Int {
        get async { (try? await core.loop.submit { self.core.oversizedMessagesSkipped }.get()) ?? 0 }
    }

    /// Connections that reached CONNACK, and the send window now (for tests: reconnects are counted, not timed).
    var connectionStatistics: (established: Int, sendQuota: Int) {
        get async throws {
            let core = self.core
            return try await core.loop.submit { core.connectionStatistics }.get()
        }
    }

    /// Topic aliases assigned and PUBLISH packets sent with an alias only (for tests).
    var aliasStatistics: (assigned: Int, sentByAlias: Int) {
        get async throws {
            let core = self.core
            return try await core.loop.submit { core.aliasStatistics }.get()
        }
    }

    /// Connects (TCP or TLS, CONNECT, CONNACK), bounded by ``MQTTClientConfiguration/connectTimeout``.
    ///
    /// - Returns: The CONNACK (session present flag, broker properties).
    /// - Throws: ``MQTTError``: ``MQTTError/Code/connectionRefused`` with the CONNACK reason code,
    ///   ``MQTTError/Code/tlsFailure``, ``MQTTError/Code/connectionClosed``, ``MQTTError/Code/timeout``,
    ///   ``MQTTError/Code/brokerProtocolViolation``.
    @discardableResult
    public func connect() async throws -> MQTTConnAck {
        let core = self.core
        let future = try await core.loop.submit { () -> EventLoopFuture<MQTTConnAck> in
            switch core.phase {
            case .idle:
                return core.connect(initial: true)
            case .closed:
                return core.loop.makeFailedFuture(
                    MQTTError.client(.clientShutDown, .unspecifiedError, "the client was shut down"))
            case .connecting, .connected, .reconnecting:
                return core.loop.makeFailedFuture(
                    MQTTError.client(.invalidArgument, .unspecifiedError, "already connected or connecting"))
            }
        }.get()
        do {
            return try await future.get()
        } catch {
            try? await core.loop.submit { core.initialConnectFailed() }.get()
            throw error
        }
    }

    /// Publishes a message.
    ///
    /// QoS 0 returns at once when the message is queued (it waits only while the socket is not
    /// writable or more than a few thousand messages are queued); it is dropped if the
    /// connection is lost before it is written. QoS 1 returns on PUBACK, QoS 2 on PUBCOMP; while the connection is down they wait
    /// for the reconnect and are sent then.
    ///
    /// The topic is validated and the packet size checked against the broker's Maximum Packet Size
    /// before anything is sent.
    ///
    /// - Returns: The broker's reason code (e.g. ``MQTTReasonCode/noMatchingSubscribers`` in MQTT 5).
    /// - Throws: ``MQTTError``: ``MQTTError/Code/invalidTopic``, ``MQTTError/Code/packetTooLarge``,
    ///   ``MQTTError/Code/publishFailed`` (failure in PUBACK/PUBREC, e.g. not authorized),
    ///   ``MQTTError/Code/notConnected``, ``MQTTError/Code/clientShutDown``.
    @discardableResult
    public func publish(
        to topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws -> MQTTReasonCode {
        let core = self.core
        if qos == .atMostOnce {
            let taken = try publishWithoutWaiting(to: topic, payload: payload, retain: retain, properties: properties)
            if !taken { await core.submissions.waitForCapacity() }
            return .success
        }
        let publish = try makePublish(topic, payload, qos, retain, properties)
        let promise = core.loop.makePromise(of: MQTTReasonCode.self)
        if core.submissions.submit(.acknowledged(publish, promise)) {
            core.loop.execute { core.drainSubmissions() }
        }
        return try await promise.futureResult.get()
    }

    /// Publishes at QoS 0 without suspending, for a caller that paces on a thread of its own (the benchmark
    /// harness's open-loop timer). The message is queued for the connection even when the connection pushes back;
    /// then the result is false and the caller should wait until ``canPublishWithoutWaiting`` before the next one
    /// (``publish(to:payload:qos:retain:properties:)`` waits by itself).
    ///
    /// - Returns: whether the connection took the message without pushing back.
    /// - Throws: ``MQTTError`` as ``publish(to:payload:qos:retain:properties:)`` at QoS 0.
    package func publishWithoutWaiting(
        to topic: String, payload: ByteBuffer, retain: Bool = false, properties: MQTTProperties = MQTTProperties()
    ) throws(MQTTError) -> Bool {
        let publish = try makePublish(topic, payload, .atMostOnce, retain, properties)
        let core = self.core
        switch core.submissions.submitQoS0(publish) {
        case .refused(let error):
            throw error
        case .queued(let scheduleDrain, let mustWait):
            if scheduleDrain { core.loop.execute { core.drainSubmissions() } }
            return !mustWait
        }
    }

    /// Whether a QoS 0 publish now would be taken without pushing back (the socket is writable and few messages
    /// wait for the event loop), or the connection is gone (then a publish fails at once).
    package var canPublishWithoutWaiting: Bool { core.submissions.hasCapacity }

    /// Hands a QoS 1 or 2 message over without waiting for the broker: returns once the client took it, which with
    /// a session store (``MQTTClientConfiguration/sessionStore``) means once the store holds it (with the store's
    /// ``MQTTSessionStoreOptions/durability``). From then on the client delivers it, across reconnects and, with a
    /// store, across a crash and restart. Messages go out in the order they were handed over; a failure reported
    /// by the broker afterwards is logged. ``waitUntilAcknowledged()`` waits for the broker.
    ///
    /// - Throws: ``MQTTError``: ``MQTTError/Code/invalidArgument`` for QoS 0, ``MQTTError/Code/invalidTopic``,
    ///   ``MQTTError/Code/packetTooLarge``, ``MQTTError/Code/sessionStoreFailed`` (the store could not write it, e.g.
    ///   a full disk: the message was not accepted), ``MQTTError/Code/notConnected`` before the first ``connect()``,
    ///   ``MQTTError/Code/clientShutDown``.
    public func enqueue(
        to topic: String, payload: ByteBuffer, qos: MQTTQoS = .atLeastOnce, retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws {
        guard qos != .atMostOnce else {
            throw MQTTError(.invalidArgument, reasonCode: .implementationSpecificError, "enqueue takes QoS 1 or 2")
        }
        let publish = try makePublish(topic, payload, qos, retain, properties)
        let core = self.core
        let promise = core.loop.makePromise(of: Void.self)
        if core.submissions.submit(.enqueued(publish, promise)) {
            core.loop.execute { core.drainSubmissions() }
        }
        try await promise.futureResult.get()
    }

    /// Waits until no QoS 1/2 message is in flight or waiting for the send window: every message handed over (and
    /// every one resumed from the session store) was acknowledged or failed.
    ///
    /// - Throws: the error that stopped the client while messages were still outstanding.
    public func waitUntilAcknowledged() async throws {
        let core = self.core
        try await core.loop.flatSubmit { core.acknowledged() }.get()
    }

    private func makePublish(
        _ topic: String, _ payload: ByteBuffer, _ qos: MQTTQoS, _ retain: Bool, _ properties: MQTTProperties
    ) throws(MQTTError) -> MQTTPublish {
        try MQTTTopic.validateName(topic)
        if payload.readableBytes > configuration.maximumPacketSize {
            throw MQTTError(.packetTooLarge, reasonCode: .packetTooLarge, "payload larger than the maximum packet size")
        }
        if configuration.protocolVersion == .v311 && !properties.isEmpty {
            throw MQTTError(.invalidArgument, reasonCode: .protocolError, "MQTT 3.1.1 has no PUBLISH properties")
        }
        return MQTTPublish(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
    }

    /// Subscribes and returns the messages that match these filters.
    ///
    /// Subscribe before publishing what you want to receive: the stream exists once the SUBACK
    /// arrived, which is also before the broker sends retained messages.
    ///
    /// - Throws: ``MQTTError`` with ``MQTTError/Code/subscriptionFailed`` and the SUBACK failure code
    ///   (e.g. ``MQTTReasonCode/notAuthorized``, or ``MQTTReasonCode/unspecifiedError`` = 0x80 in
    ///   MQTT 3.1.1) if the broker refused any filter; ``MQTTError/Code/invalidTopic`` for a bad filter.
    public func subscribe(
        to subscriptions: [MQTTSubscription], properties: MQTTProperties = MQTTProperties()
    ) async throws -> MQTTMessageStream {
        guard !subscriptions.isEmpty else {
            throw MQTTError(.invalidArgument, reasonCode: .protocolError, "SUBSCRIBE needs at least one filter")
        }
        for subscription in subscriptions { try MQTTTopic.validateFilter(subscription.topicFilter) }
        let core = self.core
        let promise = core.loop.makePromise(of: (MQTTSubAck, MQTTMessageStream?).self)
        core.loop.execute {
            core.request(
                .subscribe(subscriptions, .subscribe(promise)),
                packet: {
                    .subscribe(
                        MQTTSubscribe(packetIdentifier: $0, subscriptions: subscriptions, properties: properties))
                })
        }
        let (suback, stream) = try await promise.futureResult.get()
        guard let stream else {
            let failure = suback.reasonCodes.first(where: \.isFailure) ?? .unspecifiedError
            throw MQTTError.client(.subscriptionFailed, failure, "SUBACK \(suback.reasonCodes)")
        }
        return stream
    }

    /// Subscribes to one filter.
    public func subscribe(
        to topicFilter: String, qos: MQTTQoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
        retainHandling: MQTTRetainHandling = .sendOnSubscribe
    ) async throws -> MQTTMessageStream {
        try await subscribe(to: [
            MQTTSubscription(
                topicFilter: topicFilter,
                options: MQTTSubscriptionOptions(
                    qos: qos, noLocal: noLocal, retainAsPublished: retainAsPublished, retainHandling: retainHandling))
        ])
    }

    /// Unsubscribes; streams whose filters are all removed end.
    ///
    /// - Returns: The UNSUBACK reason codes (empty in MQTT 3.1.1).
    /// - Throws: ``MQTTError/Code/unsubscriptionFailed`` if the broker refused a filter.
    @discardableResult
    public func unsubscribe(
        _ topicFilters: [String], properties: MQTTProperties = MQTTProperties()
    ) async throws
        -> [MQTTReasonCode]
    {
        for filter in topicFilters { try MQTTTopic.validateFilter(filter) }
        let core = self.core
        let promise = core.loop.makePromise(of: MQTTUnsubAck.self)
        core.loop.execute {
            core.request(
                .unsubscribe(topicFilters, .unsubscribe(promise)),
                packet: {
                    .unsubscribe(
                        MQTTUnsubscribe(packetIdentifier: $0, topicFilters: topicFilters, properties: properties))
                })
        }
        let unsuback = try await promise.futureResult.get()
        try await core.loop.submit { core.removeFilters(topicFilters) }.get()
        if let failure = unsuback.reasonCodes.first(where: \.isFailure) {
            throw MQTTError.client(.unsubscriptionFailed, failure, "UNSUBACK \(unsuback.reasonCodes)")
        }
        return unsuback.reasonCodes
    }

    /// Disconnects gracefully: DISCONNECT with `reason` (MQTT 5; e.g.
    /// ``MQTTReasonCode/disconnectWithWillMessage`` asks the broker to publish the will), then close.
    /// Streams end; operations still waiting fail with ``MQTTError/Code/clientShutDown``.
    public func disconnect(
        reason: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()
    ) async {
        let core = self.core
        let future = try? await core.loop.submit { core.disconnect(reason: reason, properties: properties) }.get()
        try? await future?.get()
    }

    /// Closes the socket without DISCONNECT, as a crash would: the broker publishes the will.
    /// The client stops (no reconnect).
    public func abort() async {
        let core = self.core
        let future = try? await core.loop.submit { core.abort() }.get()
        try? await future?.get()
    }

    /// Waits until the client stops for good; throws the error that stopped it (e.g.
    /// ``MQTTError/Code/reconnectLimitReached`` or ``MQTTError/Code/brokerProtocolViolation``
    /// without reconnection), returns after ``disconnect(reason:properties:)``.
    public func waitUntilClosed() async throws {
        let core = self.core
        try await core.loop.flatSubmit { core.closed() }.get()
    }

    /// `Service`: connects, stays connected (reconnecting as configured) until graceful shutdown or
    /// cancellation, then disconnects.
    public func run() async throws {
        try await connect()
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await waitUntilClosed()
            } onCancel: {
                Task { await self.disconnect() }
            }
        } onGracefulShutdown: {
            Task { await self.disconnect() }
        }
    }
}

public import MQTT
public import NIOCore
import Seal
import SealKeyring
public import ServiceLifecycle

/// An MQTT client that seals every payload it publishes and opens and verifies every payload it receives.
///
/// ```swift
/// let keys = try KeyringWatcher(file: KeyringFile(path: "app.keyring"), credential: credential)
/// let mqtt = try MQTTClient(configuration: .init(host: "127.0.0.1", port: 1883))
/// let sealed = SealedMQTTClient(client: mqtt, keys: keys)
/// try await sealed.connect()
/// let readings = try await sealed.subscribe(to: "sensors/#", qos: .atLeastOnce)
/// try await sealed.publish(to: "sensors/1", payload: Array("21.5".utf8), qos: .atLeastOnce)
/// for try await reading in readings { print(reading.topic, reading.signer as Any, reading.payloadString) }
/// ```
///
/// Publishing seals with the topic's primary key and signs when the topic's ``SealedTopicPolicy/signing`` asks for
/// it. Receiving opens every message with the key its envelope names (Seal's `Opener`: topic binding, the keyring's
/// topic ACL, freshness, replay guard per subscription), then applies the topic's ``SealedTopicPolicy``. Only
/// messages that pass are delivered; every other one is counted by reason (``statistics``), logged with rate
/// limiting and reported on ``rejections(bufferingNewest:)``. Duplicates (QoS 1 redelivery) are dropped by the
/// replay guard and counted separately, so the application sees each message once.
///
/// Messages are opened and verified by the subscription's consumer, in batches of what one socket read delivered
/// (``SealedMessageStream``): unsigned envelopes inline, signed ones on up to ``SealedMQTTConfiguration/workerCount``
/// child tasks split by topic. No task runs behind a subscription and delivery order is arrival order.
///
/// Keys come from any ``SealingKeySource``; with a `KeyringWatcher` every message uses the keyring version current
/// when it is handled (hot reload), and ``run()`` also polls the keyring file.
///
/// The client is a swift-service-lifecycle `Service`: ``run()`` connects, polls the keyring (a child task), and on
/// graceful shutdown disconnects. Use either ``run()`` or ``connect()`` / ``disconnect()``.
public final class SealedMQTTClient: Sendable, Service {
    /// The MQTT client underneath (for connection state and raw operations; raw publishes are not sealed).
    public let client: MQTTClient
    /// Where keys come from.
    public let keys: any SealingKeySource
    /// The configuration.
    public let configuration: SealedMQTTConfiguration

    let accounting: Accounting
    let refreshGate: KeyRefreshGate

    /// Wraps an MQTT client (not connected yet) and a key source.
    ///
    /// - Parameters:
    ///   - client: the MQTT client; the sealed client owns its connection from now on.
    ///   - keys: a `KeyringWatcher` (hot reload), a `KeyringSnapshot`, or another ``SealingKeySource``.
    ///   - configuration: policies, replay rules, worker pool and logging.
    public init(client: MQTTClient, keys: any SealingKeySource, configuration: SealedMQTTConfiguration = .init()) {
        self.client = client
        self.keys = keys
        self.configuration = configuration
        self.accounting = Accounting(logger: configuration.logger, interval: configuration.rejectionLogInterval)
        self.refreshGate = KeyRefreshGate(interval: configuration.keyRefreshInterval)
    }

    /// Creates the MQTT client from its configuration and wraps it.
    ///
    /// - Throws: ``SealedMQTTError/Code/transport`` when the MQTT client cannot be created (TLS files).
    public convenience init(
        mqtt: MQTTClientConfiguration, keys: any SealingKeySource, configuration: SealedMQTTConfiguration = .init()
    ) throws(SealedMQTTError) {
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: mqtt)
        } catch {
            throw .transport(error, "cannot create the MQTT client")
        }
        self.init(client: client, keys: keys, configuration: configuration)
    }

    // MARK: Connection

    /// Connects the MQTT client.
    ///
    /// - Returns: the CONNACK.
    /// - Throws: ``SealedMQTTError/Code/transport`` with the MQTT error.
    @discardableResult
    public func connect() async throws(SealedMQTTError) -> MQTTConnAck {
        do {
            return try await client.connect()
        } catch {
            throw .transport(error, "connect")
        }
    }

    /// Disconnects gracefully: each subscription's stream still returns the messages already received (its consumer
    /// verifies them), then ends; the rejection streams end now.
    public func disconnect() async {
        await client.disconnect()
        accounting.finishObservers()
    }

    /// `Service`: connects (reconnecting as the MQTT configuration says), polls the keyring file when the key
    /// source is a `KeyringWatcher`, and on graceful shutdown or cancellation disconnects.
    ///
    /// - Throws: the MQTT client's error when it stops for good (for example the reconnect limit).
    public func run() async throws {
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let watcher = keys as? KeyringWatcher {
                    group.addTask { await BlockingWork.poll(watcher) }
                }
                defer { group.cancelAll() }
                try await client.run()
            }
        } catch {
            accounting.finishObservers()
            throw SealedMQTTError.transport(error, "run")
        }
        accounting.finishObservers()
    }

    // MARK: Publishing

    /// Seals `payload` for `topic` as its policy says, without publishing it (for storage or another transport).
    ///
    /// - Returns: the envelope bytes.
    /// - Throws: ``SealedMQTTError/Code/sealingFailed`` (no primary key or identity for the topic, payload too
    ///   large), ``SealedMQTTError/Code/policyViolation`` (the primary key's suite is not allowed on the topic).
    public func seal(_ payload: [UInt8], for topic: String, retain: Bool = false) throws(SealedMQTTError) -> [UInt8] {
        try payload.withUnsafeBytes { bytes in
            Result { () throws(SealedMQTTError) in try seal(bytes, topic: topic, retain: retain) }
        }.get()
    }

    /// The sealer the topic's policy chooses, checked against the policy's allowed suites.
    private func sealer(for topic: String) throws(SealedMQTTError) -> Sealer {
        let policy = configuration.policy.policy(for: topic)
        let sealer: Sealer
        do {
            switch policy.sealing {
            case .signOnly:
                sealer = try keys.signOnlySealer(for: topic)
            case .primaryKey:
                sealer = try keys.sealer(for: topic, signing: policy.demandsSignature ? .always : policy.signing)
            }
        } catch {
            throw SealedMQTTError(
                .sealingFailed, "cannot seal on topic \(topic): \(error.message)", keyringError: error)
        }
        if let suites = policy.allowedSuites {
            let suite: Suite? = sealer.mode == .sign ? .ed25519 : keys.key(id: sealer.keyID, topic: topic)?.suite
            guard let suite, suites.contains(suite) else {
                throw SealedMQTTError(
                    .policyViolation,
                    "the key that seals on \(topic) has suite \(suite?.description ?? "unknown"), "
                        + "which the topic's policy does not allow")
            }
        }
        return sealer
    }

    private func seal(
        _ payload: UnsafeRawBufferPointer, topic: String, retain: Bool
    ) throws(SealedMQTTError)
        -> [UInt8]
    {
        let sealer = try sealer(for: topic)
        do {
            return try withApplicationContext(configuration.context) { context throws(SealError) in
                try sealer.seal(payload, topic: topic, context: context, retain: retain)
            }
        } catch {
            throw SealedMQTTError(.sealingFailed, "cannot seal on topic \(topic): \(error.message)", sealError: error)
        }
    }

    /// Seals straight into a new buffer of exactly the envelope's size: one allocation, no intermediate array.
    private func sealBuffer(
        _ payload: UnsafeRawBufferPointer, topic: String, retain: Bool
    ) throws(SealedMQTTError)
        -> ByteBuffer
    {
        let sealer = try sealer(for: topic)
        let size = sealer.overhead + payload.count
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var failure: SealError?
        _ = withApplicationContext(configuration.context) { context in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { output in
                do throws(SealError) {
                    return try sealer.seal(payload, topic: topic, context: context, retain: retain, into: output)
                } catch {
                    failure = error
                    return 0
                }
            }
        }
        if let failure {
            throw SealedMQTTError(
                .sealingFailed, "cannot seal on topic \(topic): \(failure.message)", sealError: failure)
        }
        return buffer
    }

    /// Seals and publishes a payload.
    ///
    /// The topic's policy chooses the protection: its primary key (encrypt with an AEAD key, MAC with an HMAC key),
    /// signed by the topic's signing identity per ``SealedTopicPolicy/signing`` (always when the policy requires
    /// signatures), or sign-only (``PublishSealing/signOnly``). With `retain` the envelope is sealed for a retained
    /// publish, so receivers accept the retained copy.
    ///
    /// - Returns: the broker's reason code (QoS 1/2).
    /// - Throws: ``SealedMQTTError``: ``SealedMQTTError/Code/sealingFailed``,
    ///   ``SealedMQTTError/Code/policyViolation``, ``SealedMQTTError/Code/transport``,
    ///   ``SealedMQTTError/Code/shutDown``.
    @discardableResult
    public func publish(
        to topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false
    ) async throws(SealedMQTTError) -> MQTTReasonCode {
        let envelope = try payload.withUnsafeBytes { bytes in
            Result { () throws(SealedMQTTError) in try sealBuffer(bytes, topic: topic, retain: retain) }
        }.get()
        return try await send(envelope, topic: topic, qos: qos, retain: retain)
    }

    /// Seals and publishes the readable bytes of a buffer; see ``publish(to:payload:qos:retain:)``.
    @discardableResult
    public func publish(
        to topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false
    ) async throws(SealedMQTTError) -> MQTTReasonCode {
        let envelope = try payload.withUnsafeReadableBytes { bytes in
            Result { () throws(SealedMQTTError) in try sealBuffer(bytes, topic: topic, retain: retain) }
        }.get()
        return try await send(envelope, topic: topic, qos: qos, retain: retain)
    }

    /// Seals and publishes at QoS 0 without suspending, for a caller that paces on a thread of its own (the
    /// benchmark harness's open-loop timer); see `MQTTClient.publishWithoutWaiting(to:payload:retain:properties:)`.
    ///
    /// - Returns: whether the connection took the envelope without pushing back; when false, wait until
    ///   ``canPublishWithoutWaiting`` before the next one.
    /// - Throws: ``SealedMQTTError`` as ``publish(to:payload:qos:retain:)``.
    package func publishWithoutWaiting(to topic: String, payload: [UInt8]) throws(SealedMQTTError) -> Bool {
        let envelope = try payload.withUnsafeBytes { bytes in
            Result { () throws(SealedMQTTError) in try sealBuffer(bytes, topic: topic, retain: false) }
        }.get()
        let taken: Bool
        do {
            taken = try client.publishWithoutWaiting(to: topic, payload: envelope)
        } catch {
            throw .transport(error, "publish to \(topic)")
        }
        accounting.recordPublished()
        return taken
    }

    /// Whether a QoS 0 publish now would be taken without pushing back.
    package var canPublishWithoutWaiting: Bool { client.canPublishWithoutWaiting }

    /// Publishes a payload in clear, only on topics whose policy opted in (``SealedTopicPolicy/allowsPlaintext``).
    ///
    /// - Throws: ``SealedMQTTError/Code/policyViolation`` on any other topic; ``SealedMQTTError/Code/transport``.
    @discardableResult
    public func publishPlaintext(
        to topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false
    ) async throws(SealedMQTTError) -> MQTTReasonCode {
        guard configuration.policy.policy(for: topic).allowsPlaintext else {
            throw SealedMQTTError(.policyViolation, "topic \(topic) does not allow plaintext; publish sealed")
        }
        return try await send(ByteBuffer(bytes: payload), topic: topic, qos: qos, retain: retain)
    }

    private func send(
        _ bytes: ByteBuffer, topic: String, qos: MQTTQoS, retain: Bool
    ) async throws(SealedMQTTError)
        -> MQTTReasonCode
    {
        let code: MQTTReasonCode
        do {
            code = try await client.publish(to: topic, payload: bytes, qos: qos, retain: retain)
        } catch {
            throw .transport(error, "publish to \(topic)")
        }
        accounting.recordPublished()
        return code
    }

    // MARK: Subscribing

    /// Subscribes and returns the verified messages that match `topicFilter`.
    ///
    /// Each subscription has its own replay guard, so overlapping subscriptions each see a message once. For a
    /// shared subscription (`$share/group/filter`) the envelope is opened with the concrete topic of each message.
    ///
    /// - Throws: ``SealedMQTTError/Code/transport`` when the broker refuses the subscription or the filter is
    ///   invalid.
    public func subscribe(
        to topicFilter: String, qos: MQTTQoS = .atMostOnce
    ) async throws(SealedMQTTError) -> SealedMessageStream {
        try await subscribe(to: [topicFilter], qos: qos)
    }

    /// Subscribes to several filters in one SUBSCRIBE and returns one stream of the verified messages that match
    /// any of them.
    ///
    /// A message that matches several of the filters is delivered once (one replay guard for the subscription),
    /// where separate ``subscribe(to:qos:)`` calls would each deliver it.
    ///
    /// `properties` are the SUBSCRIBE's MQTT 5 properties (a subscription identifier, user properties).
    ///
    /// - Throws: ``SealedMQTTError/Code/transport`` when the broker refuses any filter, a filter is invalid, or
    ///   `topicFilters` is empty.
    public func subscribe(
        to topicFilters: [String], qos: MQTTQoS = .atMostOnce, properties: MQTTProperties = MQTTProperties()
    ) async throws(SealedMQTTError) -> SealedMessageStream {
        let label = topicFilters.joined(separator: ", ")
        let raw: MQTTMessageStream
        do {
            raw = try await client.subscribe(
                to: topicFilters.map { MQTTSubscription(topicFilter: $0, options: MQTTSubscriptionOptions(qos: qos)) },
                properties: properties)
        } catch {
            throw .transport(error, "subscribe to \(label)")
        }
        let pipeline = SubscriptionPipeline(
            filter: label, keys: keys, configuration: configuration, accounting: accounting,
            refreshGate: refreshGate)
        return SealedMessageStream(topicFilters: topicFilters, reader: SubscriptionReader(raw: raw, pipeline: pipeline))
    }

    /// Unsubscribes; the subscription's stream ends after the messages already received.
    ///
    /// - Throws: ``SealedMQTTError/Code/transport`` when the broker refuses.
    public func unsubscribe(
        _ topicFilter: String, properties: MQTTProperties = MQTTProperties()
    ) async throws(SealedMQTTError) {
        do {
            try await client.unsubscribe([topicFilter], properties: properties)
        } catch {
            throw .transport(error, "unsubscribe from \(topicFilter)")
        }
    }

    // MARK: Accounting

    /// The counters so far: delivered, plaintext, duplicates, rejections by reason, published. A received message
    /// is counted when its subscription's consumer has read up to it.
    public var statistics: SealedStatistics {
        get async { accounting.snapshot() }
    }

    /// A stream of every message dropped from now on (rejections and duplicates), for monitoring.
    ///
    /// The stream keeps the newest `capacity` entries when its consumer falls behind (older ones are discarded from
    /// the stream, never from ``statistics``), so a slow monitor never slows message delivery. It ends when the
    /// client disconnects.
    public func rejections(bufferingNewest capacity: Int = 1024) async -> AsyncStream<SealedRejection> {
        accounting.observe(bufferingNewest: capacity)
    }
}

public import NIOCore

/// An application message received from the broker.
public struct MQTTMessage: Sendable, Hashable {
    /// The topic name it was published to (topic aliases already resolved).
    public var topic: String
    /// The payload.
    public var payload: ByteBuffer
    /// The QoS it was delivered with.
    public var qos: MQTTQoS
    /// The retain flag: `true` for a retained message sent on subscription (or with
    /// retain-as-published).
    public var retain: Bool
    /// MQTT 5 properties (user properties, content type, response topic, ...).
    public var properties: MQTTProperties
    /// The packet identifier of the PUBLISH that carried it (QoS 1 and 2; `nil` at QoS 0), as `mosquitto_sub -F %m`
    /// prints it. The broker chooses it per delivery, so it identifies nothing beyond this connection.
    public var packetIdentifier: UInt16?

    /// Creates a message.
    public init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
        properties: MQTTProperties = MQTTProperties(), packetIdentifier: UInt16? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.packetIdentifier = packetIdentifier
    }

    /// The payload as UTF-8 text.
    public var payloadString: String { String(buffer: payload) }
}

/// The messages of one subscription, as an `AsyncSequence`.
///
/// **Backpressure policy.** Each stream buffers at most
/// ``MQTTClientConfiguration/subscriptionBufferCapacity`` messages. When a stream's buffer is full
/// the client stops reading from the socket (NIO `autoRead` off), so TCP flow control pushes back
/// to the broker, which queues (and, beyond its own limits, drops QoS 0) messages. Reading resumes
/// when the consumer has drained the buffer to half its capacity. Nothing is dropped by the client
/// and memory stays bounded by the capacity plus one socket read. A slow consumer therefore slows
/// every subscription of the same client; keepalive timeouts are suspended while reading is paused.
/// That is the default, ``MQTTSlowSubscriptionPolicy/pauseReading``; with
/// ``MQTTSlowSubscriptionPolicy/isolate`` the client keeps reading for the other subscriptions, drops
/// (and counts, ``droppedCount``) the full stream's QoS 0 messages and withholds the acknowledgement of
/// its QoS 1/2 messages until its consumer takes them.
///
/// **Hand-over.** A consumer suspended in `next()` is woken once per socket read, after every message
/// of that read is in the buffer; it then takes them without suspending.
///
/// The sequence ends when the subscription is removed (``MQTTClient/unsubscribe(_:properties:)``)
/// or the client disconnects; it throws when the client gives up after a lost connection.
/// Only one task may iterate a stream.
///
/// **Dropping a stream ends its subscription.** Once the stream, its copies and its iterators are all gone (a
/// `for await` loop left with `break` and the stream out of scope), the client ends the stream and unsubscribes its
/// filters that no other stream uses: an abandoned subscription never fills its buffer and never holds reading
/// paused for the client's other subscriptions. Keep the stream while the subscription is wanted, also one made
/// only so that a persistent session keeps it.
public struct MQTTMessageStream: AsyncSequence, Sendable {
    /// The element type.
    public typealias Element = MQTTMessage

    /// The topic filters of the subscription.
    public let topicFilters: [String]
    /// The SUBACK reason codes (granted QoS per filter).
    public let grantedReasonCodes: [MQTTReasonCode]
    let box: StreamBox
    let lifetime: StreamLifetime

    init(topicFilters: [String], grantedReasonCodes: [MQTTReasonCode], box: StreamBox, lifetime: StreamLifetime) {
        self.topicFilters = topicFilters
        self.grantedReasonCodes = grantedReasonCodes
        self.box = box
        self.lifetime = lifetime
    }

    /// Messages received and not yet taken by the consumer (for tests and metrics).
    package var bufferedCount: Int { box.bufferedCount }

    /// Buffered messages whose PUBACK / PUBREC waits for the consumer (``MQTTSlowSubscriptionPolicy/isolate``).
    package var withheldCount: Int { box.withheldCount }

    /// QoS 0 messages this subscription dropped because its consumer did not keep up and the client was configured
    /// to keep the other subscriptions flowing (``MQTTSlowSubscriptionPolicy/isolate``); always 0 with
    /// ``MQTTSlowSubscriptionPolicy/pauseReading``.
    public var droppedCount: Int { box.droppedCount }

    /// The next message, as an iterator's `next()` returns it (the stream holds no iteration state).
    package func next() async throws -> MQTTMessage? { try await box.next() }

    /// Appends up to `limit` messages that are already buffered to `batch`, without waiting: after ``next()``, the
    /// rest of what the same socket read delivered, in one hand-over.
    package func takeBuffered(upTo limit: Int, into batch: inout [MQTTMessage]) {
        box.takeBuffered(upTo: limit, into: &batch)
    }

    /// Creates the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(box: box, lifetime: lifetime)
    }

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let box: StreamBox
        let lifetime: StreamLifetime

        /// The next message, `nil` at the end.
        public mutating func next() async throws -> MQTTMessage? {
            try await box.next()
        }
    }
}

/// Held by an ``MQTTMessageStream``, its copies and its iterators, and by nothing else: when the last of them goes,
/// `onAbandon` tells the client that nobody reads stream `id` any more.
final class StreamLifetime: Sendable {
    let id: Int
    private let onAbandon: @Sendable (Int) -> Void

    init(id: Int, onAbandon: @escaping @Sendable (Int) -> Void) {
        self.id = id
        self.onAbandon = onAbandon
    }

    deinit { onAbandon(id) }
}

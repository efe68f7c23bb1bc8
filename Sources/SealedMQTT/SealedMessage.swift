public import MQTT
public import Seal

/// A received message that passed every check: opened and verified, or clear data on a topic that opted in.
public struct SealedMessage: Sendable, Hashable {
    /// The concrete topic it was published to (also for shared subscriptions).
    public let topic: String
    /// The application payload: decrypted, or the clear payload of MAC, sign-only and plaintext messages.
    public let payload: [UInt8]
    /// The MQTT retain flag of the delivery (`true` for a retained copy sent on subscribe).
    public let retain: Bool
    /// The QoS it was delivered with.
    public let qos: MQTTQoS
    /// What the envelope proved, or nil for plaintext passed through on an opted-in topic.
    public var envelope: OpenedMessage? { verified.map { OpenedMessage(payload: payload, envelope: $0) } }
    /// What the envelope proved, without a second reference to the payload (a message is copied on its way to the
    /// consumer; one reference fewer is one retain and release fewer per copy).
    let verified: OpenedEnvelope?
    /// The PUBLISH's MQTT 5 properties as received. They travel outside the envelope: nothing in them is encrypted
    /// or authenticated.
    public let properties: MQTTProperties
    /// The packet identifier of the delivery (QoS 1 and 2), as `MQTTMessage.packetIdentifier` (MQTT) has it.
    public let packetIdentifier: UInt16?

    /// A message opened on the receive path: `payload` and what its envelope proved.
    init(
        topic: String, payload: [UInt8], retain: Bool, qos: MQTTQoS, verified: OpenedEnvelope?,
        properties: MQTTProperties, packetIdentifier: UInt16?
    ) {
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.qos = qos
        self.verified = verified
        self.properties = properties
        self.packetIdentifier = packetIdentifier
    }

    /// Creates a message (for tests of code that consumes sealed messages). The message keeps what `envelope`
    /// proved; its ``envelope`` then carries `payload` as its payload.
    public init(
        topic: String, payload: [UInt8], retain: Bool, qos: MQTTQoS, envelope: OpenedMessage?,
        properties: MQTTProperties = MQTTProperties(), packetIdentifier: UInt16? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.qos = qos
        self.verified = envelope.map { OpenedEnvelope(describing: $0) }
        self.properties = properties
        self.packetIdentifier = packetIdentifier
    }

    /// Whether the payload arrived in clear without an envelope (only on topics whose policy allows plaintext).
    public var isPlaintext: Bool { verified == nil }
    /// The sid of the signer whose Ed25519 signature verified: the sender's identity. Nil when unsigned.
    public var signer: UInt32? { verified?.signer }
    /// The key id that opened the envelope (in sign-only mode the signer's id). Nil for plaintext.
    public var keyID: UInt32? { verified?.keyID }
    /// The sender id of the envelope (equal to ``signer`` in signed modes). Nil for plaintext.
    public var senderID: UInt32? { verified?.senderID }
    /// The envelope mode (encrypt, encrypt + sign, MAC, sign). Nil for plaintext.
    public var mode: SealMode? { verified?.mode }
    /// The sender's timestamp, Unix milliseconds. Nil for plaintext.
    public var timestampMilliseconds: UInt64? { verified?.timestampMilliseconds }
    /// The payload as UTF-8 text (invalid sequences are repaired).
    public var payloadString: String { String(decoding: payload, as: UTF8.self) }
}

/// The messages of one sealed subscription, as an `AsyncSequence`.
///
/// Only messages that passed every check appear; rejected ones are counted (``SealedMQTTClient/statistics``) and
/// reported on ``SealedMQTTClient/rejections(bufferingNewest:)``. Messages are delivered in the order the broker
/// delivered them.
///
/// **Where the work happens.** The consumer's `next()` takes every message the MQTT stream has buffered (up to
/// ``SealedMQTTConfiguration/maxInFlightPerSubscription``) in one hand-over and judges them there: unsigned
/// envelopes are opened inline; signed ones are verified on up to ``SealedMQTTConfiguration/workerCount`` child
/// tasks of that call, split by topic. No task runs behind the stream, so messages are opened, and rejections
/// counted, as the consumer reads; a subscription nobody reads costs nothing but its buffer.
///
/// **Memory and backpressure** are the MQTT stream's (`MQTTClientConfiguration.subscriptionBufferCapacity`): when
/// its buffer is full the client stops reading from the socket; beyond that buffer the stream holds at most one
/// judged batch. The sequence ends when the subscription is removed or the client disconnects (after the messages
/// already received), and throws a ``SealedMQTTError`` when the connection is lost for good.
///
/// **Dropping the stream ends its subscription**, as for `MQTTMessageStream`: once the stream, its copies and its
/// iterators are gone, the client unsubscribes its filters that no other stream uses. Only one task may iterate a
/// stream.
public struct SealedMessageStream: AsyncSequence, Sendable {
    /// The element type.
    public typealias Element = SealedMessage

    /// The topic filters of the subscription (as subscribed, for example `$share/group/sensors/#`).
    public let topicFilters: [String]
    /// The first topic filter of the subscription (the only one for
    /// ``SealedMQTTClient/subscribe(to:qos:)-(String,_)``).
    public var topicFilter: String { topicFilters[0] }
    let reader: SubscriptionReader

    init(topicFilters: [String], reader: SubscriptionReader) {
        self.topicFilters = topicFilters
        self.reader = reader
    }

    /// Messages received and not yet returned: the MQTT stream's buffer plus the judged rest of the current
    /// batch (for tests of the memory bound).
    package var buffered: Int { reader.buffered }

    /// QoS 0 messages dropped before they were judged because this subscription's consumer did not keep up and the
    /// MQTT client keeps its other subscriptions flowing (`MQTTSlowSubscriptionPolicy.isolate`); 0 otherwise.
    public var droppedCount: Int { reader.dropped }

    /// Creates the iterator.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: SubscriptionReader

        /// The next verified message; nil at the end. Throws `CancellationError` when the task is cancelled and
        /// ``SealedMQTTError`` when the subscription ended with an error.
        public mutating func next() async throws -> SealedMessage? { try await reader.next() }
    }
}

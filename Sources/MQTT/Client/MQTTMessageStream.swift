import NIOConcurrencyHelpers
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

/// The shared buffer behind an ``MQTTMessageStream``. Producers call from the client's event loop.
final class StreamBox: Sendable {
    private struct State {
        var buffer = CircularBuffer<MQTTMessage>(initialCapacity: 16)
        var waiter: CheckedContinuation<MQTTMessage?, any Error>?
        var end: Result<Void, MQTTError>?
        var paused = false
        /// A consumer waits and the producer was told to wake it at the end of the read burst.
        var wakePending = false
    }

    /// What the producer must do after ``yield(_:)``.
    struct YieldOutcome {
        /// The buffer is full: stop reading from the socket.
        var pauseReading = false
        /// A consumer waits: call ``wakeConsumer()`` once the current read burst is delivered.
        var wakeConsumer = false
    }

    let id: Int
    let topicFilters: [String]
    let capacity: Int
    private let state = NIOLockedValueBox(State())
    /// Called (outside the lock) when the consumer drained a paused stream to the low-water mark.
    private let onResume: @Sendable (Int) -> Void

    init(id: Int, topicFilters: [String], capacity: Int, onResume: @escaping @Sendable (Int) -> Void) {
        self.id = id
        self.topicFilters = topicFilters
        self.capacity = max(1, capacity)
        self.onResume = onResume
    }

    /// Adds a message.
    ///
    /// A waiting consumer is not resumed here: the producer delivers a whole socket read first and then calls
    /// ``wakeConsumer()`` once, so a burst of messages costs one task wake-up instead of one per message.
    func yield(_ message: MQTTMessage) -> YieldOutcome {
        state.withLockedValue { state -> YieldOutcome in
            var outcome = YieldOutcome()
            if state.end != nil { return outcome }
            state.buffer.append(message)
            if state.waiter != nil && !state.wakePending {
                state.wakePending = true
                outcome.wakeConsumer = true
            }
            if state.buffer.count >= capacity && !state.paused {
                state.paused = true
                outcome.pauseReading = true
            }
            return outcome
        }
    }

    /// Resumes a waiting consumer with the first buffered message; it takes the rest without suspending.
    func wakeConsumer() {
        let handOver = state.withLockedValue { state -> (CheckedContinuation<MQTTMessage?, any Error>, MQTTMessage)? in
            state.wakePending = false
            guard let waiter = state.waiter, let message = state.buffer.popFirst() else { return nil }
            state.waiter = nil
            return (waiter, message)
        }
        if let (waiter, message) = handOver { waiter.resume(returning: message) }
    }

    /// Ends the stream (normally, or with an error) after the buffered messages.
    func finish(_ result: Result<Void, MQTTError> = .success(())) {
        enum HandOver {
            case message(CheckedContinuation<MQTTMessage?, any Error>, MQTTMessage)
            case end(CheckedContinuation<MQTTMessage?, any Error>, Result<Void, MQTTError>)
        }
        let handOver = state.withLockedValue { state -> HandOver? in
            if state.end == nil { state.end = result }
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            state.wakePending = false
            // A message buffered for a wake-up that has not happened yet goes first; the end follows.
            if let message = state.buffer.popFirst() { return .message(waiter, message) }
            return .end(waiter, state.end!)
        }
        switch handOver {
        case .message(let waiter, let message): waiter.resume(returning: message)
        case .end(let waiter, .success): waiter.resume(returning: nil)
        case .end(let waiter, .failure(let error)): waiter.resume(throwing: error)
        case nil: break
        }
    }

    /// Moves up to `limit` buffered messages to `batch` without waiting (resuming reading as ``next()`` does).
    func takeBuffered(upTo limit: Int, into batch: inout [MQTTMessage]) {
        guard limit > 0 else { return }
        let resume = state.withLockedValue { state -> Bool in
            var taken = 0
            while taken < limit, let message = state.buffer.popFirst() {
                batch.append(message)
                taken += 1
            }
            guard state.paused && state.buffer.count <= capacity / 2 else { return false }
            state.paused = false
            return true
        }
        if resume { onResume(id) }
    }

    /// Whether the stream asked the client to stop reading and its consumer has not drained it since.
    var isPaused: Bool { state.withLockedValue { $0.paused } }

    /// Buffered messages (for tests and metrics).
    var bufferedCount: Int { state.withLockedValue { $0.buffer.count } }

    /// Whether a consumer is suspended in ``next()`` (for tests).
    var hasWaitingConsumer: Bool { state.withLockedValue { $0.waiter != nil } }

    func next() async throws -> MQTTMessage? {
        enum Outcome {
            case message(MQTTMessage, resume: Bool)
            case end(Result<Void, MQTTError>)
            case wait
        }
        let outcome = state.withLockedValue { state -> Outcome in
            if let message = state.buffer.popFirst() {
                var resume = false
                if state.paused && state.buffer.count <= capacity / 2 {
                    state.paused = false
                    resume = true
                }
                return .message(message, resume: resume)
            }
            if let end = state.end { return .end(end) }
            return .wait
        }
        switch outcome {
        case .message(let message, let resume):
            if resume { onResume(id) }
            return message
        case .end(.success):
            return nil
        case .end(.failure(let error)):
            throw error
        case .wait:
            break
        }
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MQTTMessage?, any Error>) in
                let immediate = state.withLockedValue { state -> Result<MQTTMessage?, any Error>? in
                    if let message = state.buffer.popFirst() { return .success(message) }
                    if let end = state.end {
                        switch end {
                        case .success: return .success(nil)
                        case .failure(let error): return .failure(error)
                        }
                    }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

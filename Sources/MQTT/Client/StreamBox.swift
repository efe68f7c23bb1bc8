import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// An acknowledgement withheld while streams hold its message (``MQTTSlowSubscriptionPolicy/isolate``): the client
/// holds one reference while it delivers the message, each stream that keeps it withheld one more; whoever lets go
/// of the last one sends the acknowledgement.
final class AcknowledgementHold: Sendable {
    let ack: UnroutedMessages.DeferredAck
    private let holders = Atomic<Int>(1)

    init(_ ack: UnroutedMessages.DeferredAck) {
        self.ack = ack
    }

    func retain() {
        holders.add(1, ordering: .relaxed)
    }

    /// Lets go of one reference; true for the last one.
    func release() -> Bool {
        holders.subtract(1, ordering: .acquiringAndReleasing).newValue == 0
    }
}

/// The shared buffer behind an ``MQTTMessageStream``. Producers call from the client's event loop.
final class StreamBox: Sendable {
    private struct Entry {
        var message: MQTTMessage
        /// Set when the message's acknowledgement waits for the consumer to take it.
        var hold: AcknowledgementHold?
    }

    private struct State {
        var buffer = CircularBuffer<Entry>(initialCapacity: 16)
        var waiter: CheckedContinuation<MQTTMessage?, any Error>?
        var end: Result<Void, MQTTError>?
        var paused = false
        /// A consumer waits and the producer was told to wake it at the end of the read burst.
        var wakePending = false
        /// Buffered messages whose acknowledgement is withheld.
        var held = 0
        /// QoS 0 messages dropped because the buffer was full (``MQTTSlowSubscriptionPolicy/isolate``).
        var dropped = 0
        /// The socket read during which the buffer reached its capacity, while it stays there: from the next read
        /// on, the consumer has had its chance and is not keeping up (``MQTTSlowSubscriptionPolicy/isolate``).
        var fullSinceRead: Int?
        let capacity: Int

        /// Takes the first message; a withheld acknowledgement whose last holder this was goes to `released`.
        mutating func popFirst(releasing released: inout [UnroutedMessages.DeferredAck]) -> MQTTMessage? {
            guard let entry = buffer.popFirst() else { return nil }
            if let hold = entry.hold {
                held -= 1
                if hold.release() { released.append(hold.ack) }
            }
            if buffer.count < capacity { fullSinceRead = nil }
            return entry.message
        }
    }

    /// What the producer must do after ``yield(_:ack:hold:)``.
    struct YieldOutcome {
        /// The buffer is full: stop reading from the socket.
        var pauseReading = false
        /// A consumer waits: call ``wakeConsumer()`` once the current read burst is delivered.
        var wakeConsumer = false
        /// The first QoS 0 message this stream dropped (log it once).
        var firstDrop = false
    }

    let id: Int
    let topicFilters: [String]
    let capacity: Int
    let policy: MQTTSlowSubscriptionPolicy
    private let state: NIOLockedValueBox<State>
    /// Called (outside the lock) when the consumer drained a paused stream to the low-water mark.
    private let onResume: @Sendable (Int) -> Void
    /// Called (outside the lock, from the consumer's thread) with withheld acknowledgements that are now due.
    private let onRelease: @Sendable ([UnroutedMessages.DeferredAck]) -> Void

    init(
        id: Int, topicFilters: [String], capacity: Int, policy: MQTTSlowSubscriptionPolicy = .pauseReading,
        onResume: @escaping @Sendable (Int) -> Void,
        onRelease: @escaping @Sendable ([UnroutedMessages.DeferredAck]) -> Void = { _ in }
    ) {
        self.id = id
        self.topicFilters = topicFilters
        self.capacity = max(1, capacity)
        self.state = NIOLockedValueBox(State(capacity: max(1, capacity)))
        self.policy = policy
        self.onResume = onResume
        self.onRelease = onRelease
    }

    /// Adds a message.
    ///
    /// A waiting consumer is not resumed here: the producer delivers a whole socket read first and then calls
    /// ``wakeConsumer()`` once, so a burst of messages costs one task wake-up instead of one per message.
    ///
    /// With ``MQTTSlowSubscriptionPolicy/isolate``, once the buffer has been full since an earlier socket read
    /// (`read` counts them; within one read the buffer may grow past its capacity, as with
    /// ``MQTTSlowSubscriptionPolicy/pauseReading``, so a consumer that keeps up loses nothing to a large read), a
    /// QoS 0 message is dropped, and a message with an acknowledgement `ack` is kept with its acknowledgement
    /// withheld: `hold` (shared by every stream the message goes to, created here by the first that withholds)
    /// then says so to the producer.
    func yield(
        _ message: MQTTMessage, ack: UnroutedMessages.DeferredAck?, hold: inout AcknowledgementHold?, read: Int
    ) -> YieldOutcome {
        state.withLockedValue { state -> YieldOutcome in
            var outcome = YieldOutcome()
            if state.end != nil { return outcome }
            if policy == .isolate, let since = state.fullSinceRead, since != read {
                if message.qos == .atMostOnce {
                    state.dropped += 1
                    outcome.firstDrop = state.dropped == 1
                    return outcome
                }
                var withheld: AcknowledgementHold?
                if let ack {
                    if hold == nil { hold = AcknowledgementHold(ack) }
                    hold?.retain()
                    withheld = hold
                    state.held += 1
                }
                state.buffer.append(Entry(message: message, hold: withheld))
                // Without an acknowledgement to withhold (a message acknowledged before its stream existed), or
                // with a broker window wider than the buffer, the stream falls back to pausing.
                if (withheld == nil || state.held >= capacity) && !state.paused {
                    state.paused = true
                    outcome.pauseReading = true
                }
            } else {
                state.buffer.append(Entry(message: message, hold: nil))
                if state.buffer.count >= capacity {
                    switch policy {
                    case .pauseReading where !state.paused:
                        state.paused = true
                        outcome.pauseReading = true
                    case .isolate where state.fullSinceRead == nil:
                        state.fullSinceRead = read
                    default:
                        break
                    }
                }
            }
            if state.waiter != nil && !state.wakePending {
                state.wakePending = true
                outcome.wakeConsumer = true
            }
            return outcome
        }
    }

    /// Adds a message that has no acknowledgement to withhold.
    func yield(_ message: MQTTMessage) -> YieldOutcome {
        var hold: AcknowledgementHold?
        return yield(message, ack: nil, hold: &hold, read: 0)
    }

    /// Resumes a waiting consumer with the first buffered message; it takes the rest without suspending.
    func wakeConsumer() {
        var released: [UnroutedMessages.DeferredAck] = []
        let handOver = state.withLockedValue { state -> (CheckedContinuation<MQTTMessage?, any Error>, MQTTMessage)? in
            state.wakePending = false
            guard let waiter = state.waiter, let message = state.popFirst(releasing: &released) else { return nil }
            state.waiter = nil
            return (waiter, message)
        }
        if !released.isEmpty { onRelease(released) }
        if let (waiter, message) = handOver { waiter.resume(returning: message) }
    }

    /// Ends the stream (normally, or with an error) after the buffered messages.
    func finish(_ result: Result<Void, MQTTError> = .success(())) {
        enum HandOver {
            case message(CheckedContinuation<MQTTMessage?, any Error>, MQTTMessage)
            case end(CheckedContinuation<MQTTMessage?, any Error>, Result<Void, MQTTError>)
        }
        var released: [UnroutedMessages.DeferredAck] = []
        let handOver = state.withLockedValue { state -> HandOver? in
            if state.end == nil { state.end = result }
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            state.wakePending = false
            // A message buffered for a wake-up that has not happened yet goes first; the end follows.
            if let message = state.popFirst(releasing: &released) { return .message(waiter, message) }
            return .end(waiter, state.end!)
        }
        if !released.isEmpty { onRelease(released) }
        switch handOver {
        case .message(let waiter, let message): waiter.resume(returning: message)
        case .end(let waiter, .success): waiter.resume(returning: nil)
        case .end(let waiter, .failure(let error)): waiter.resume(throwing: error)
        case nil: break
        }
    }

    /// Nobody will read the stream (it was dropped): forgets its buffered messages and returns the withheld
    /// acknowledgements that are now due (the messages are unwanted, so they are acknowledged and dropped).
    func discardBuffered() -> [UnroutedMessages.DeferredAck] {
        var released: [UnroutedMessages.DeferredAck] = []
        state.withLockedValue { state in
            while state.popFirst(releasing: &released) != nil {}
        }
        return released
    }

    /// Moves up to `limit` buffered messages to `batch` without waiting (resuming reading as ``next()`` does).
    func takeBuffered(upTo limit: Int, into batch: inout [MQTTMessage]) {
        guard limit > 0 else { return }
        var released: [UnroutedMessages.DeferredAck] = []
        let resume = state.withLockedValue { state -> Bool in
            var taken = 0
            while taken < limit, let message = state.popFirst(releasing: &released) {
                batch.append(message)
                taken += 1
            }
            return Self.resumes(&state, capacity: capacity)
        }
        if !released.isEmpty { onRelease(released) }
        if resume { onResume(id) }
    }

    /// Whether taking a message brought a paused stream down to the low-water mark (and marks it resumed).
    private static func resumes(_ state: inout State, capacity: Int) -> Bool {
        guard state.paused && state.buffer.count <= capacity / 2 else { return false }
        state.paused = false
        return true
    }

    /// Whether the stream asked the client to stop reading and its consumer has not drained it since.
    var isPaused: Bool { state.withLockedValue { $0.paused } }

    /// Buffered messages (for tests and metrics).
    var bufferedCount: Int { state.withLockedValue { $0.buffer.count } }

    /// Buffered messages whose acknowledgement is withheld (for tests and metrics).
    var withheldCount: Int { state.withLockedValue { $0.held } }

    /// QoS 0 messages dropped because the buffer was full.
    var droppedCount: Int { state.withLockedValue { $0.dropped } }

    /// Whether a consumer is suspended in ``next()`` (for tests).
    var hasWaitingConsumer: Bool { state.withLockedValue { $0.waiter != nil } }

    func next() async throws -> MQTTMessage? {
        enum Outcome {
            case message(MQTTMessage, resume: Bool)
            case end(Result<Void, MQTTError>)
            case wait
        }
        var released: [UnroutedMessages.DeferredAck] = []
        let outcome = state.withLockedValue { state -> Outcome in
            if let message = state.popFirst(releasing: &released) {
                return .message(message, resume: Self.resumes(&state, capacity: capacity))
            }
            if let end = state.end { return .end(end) }
            return .wait
        }
        if !released.isEmpty { onRelease(released) }
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
                var released: [UnroutedMessages.DeferredAck] = []
                let immediate = state.withLockedValue { state -> Result<MQTTMessage?, any Error>? in
                    if let message = state.popFirst(releasing: &released) { return .success(message) }
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
                if !released.isEmpty { onRelease(released) }
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

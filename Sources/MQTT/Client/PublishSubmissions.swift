import NIOConcurrencyHelpers
import NIOCore

/// Publishes handed over from application tasks to the client's event loop in batches: one lock
/// and one array append per message, one event-loop task per batch. QoS 0 callers do not wait
/// for the loop at all unless the connection pushes back (socket not writable, or too many
/// messages not yet taken by the loop), which bounds memory.
final class PublishSubmissions: Sendable {
    /// One message handed over.
    enum Submission {
        /// QoS 0, nobody waits.
        case qos0(MQTTPublish)
        /// QoS 1/2 from `publish`: the promise completes on PUBACK / PUBCOMP.
        case acknowledged(MQTTPublish, PublishPromise)
        /// QoS 1/2 from `enqueue`: the promise completes once the client (and its session store) took the message.
        case enqueued(MQTTPublish, EventLoopPromise<Void>)
    }

    private struct State {
        var pending: [Submission] = []
        var drainScheduled = false
        var connected = false
        var blocked = false
        var closedError: MQTTError?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Beyond this many messages not yet taken by the loop, QoS 0 callers wait.
    static let highWaterMark = 4096

    private let state = NIOLockedValueBox(State())

    /// Queues a QoS 1/2 publish (``Submission/acknowledged(_:_:)`` or ``Submission/enqueued(_:_:)``). Returns whether the
    /// caller must schedule a drain on the loop.
    func submit(_ submission: Submission) -> Bool {
        state.withLockedValue { state in
            state.pending.append(submission)
            defer { state.drainScheduled = true }
            return !state.drainScheduled
        }
    }

    enum QoS0Outcome {
        case queued(scheduleDrain: Bool, mustWait: Bool)
        case refused(MQTTError)
    }

    /// Queues a QoS 0 publish, or refuses it when there is no connection.
    func submitQoS0(_ publish: MQTTPublish) -> QoS0Outcome {
        state.withLockedValue { state in
            if let error = state.closedError { return .refused(error) }
            guard state.connected else {
                return .refused(.client(.notConnected, .unspecifiedError, "QoS 0 publish while disconnected"))
            }
            state.pending.append(.qos0(publish))
            let schedule = !state.drainScheduled
            state.drainScheduled = true
            return .queued(
                scheduleDrain: schedule, mustWait: state.blocked || state.pending.count > Self.highWaterMark)
        }
    }

    /// Whether QoS 0 callers may go on without waiting: the condition ``waitForCapacity()`` waits for.
    var hasCapacity: Bool {
        state.withLockedValue { state in
            !(state.connected && state.closedError == nil
                && (state.blocked || state.pending.count > Self.highWaterMark))
        }
    }

    /// Waits until the connection takes more (or goes away).
    func waitForCapacity() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLockedValue { state -> Bool in
                guard state.connected, state.closedError == nil,
                    state.blocked || state.pending.count > Self.highWaterMark
                else { return false }
                state.waiters.append(continuation)
                return true
            }
            if !wait { continuation.resume() }
        }
    }

    /// Takes everything queued (on the loop).
    func take() -> [Submission] {
        state.withLockedValue { state in
            state.drainScheduled = false
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
    }

    /// Updates the flags the callers see; releases waiting callers when nothing blocks any more.
    func update(connected: Bool? = nil, blocked: Bool? = nil, closedError: MQTTError? = nil) {
        let release = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            if let connected { state.connected = connected }
            if let blocked { state.blocked = blocked }
            if let closedError { state.closedError = closedError }
            let stuck =
                state.connected && state.closedError == nil
                && (state.blocked || state.pending.count > Self.highWaterMark)
            guard !stuck else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in release { waiter.resume() }
    }
}

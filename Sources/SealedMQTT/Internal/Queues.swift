import MQTT
import NIOCore

/// The verified messages of one subscription, waiting for its consumer. Bounded: a worker that finds it full waits
/// (in FIFO order) until the consumer takes a message.
///
/// It also bounds how far the worker pool may reorder the subscription's messages: the reader takes a ticket for
/// every message (``reserve()``) and may only run `inFlightLimit` tickets ahead of the oldest message not yet opened
/// (``release(_:)`` after the worker opened it), a sliding window. So a message is overtaken by fewer than
/// `inFlightLimit` later ones before its replay check; the replay guard accepts anything overtaken by fewer than its
/// window, so parallel verification never pushes a genuine message below the window.
actor DeliveryBuffer {
    private var buffer = CircularBuffer<SealedMessage>(initialCapacity: 16)
    private let capacity: Int
    private var senders = CircularBuffer<CheckedContinuation<Bool, Never>>(initialCapacity: 4)
    private var receiver: (id: UInt64, continuation: CheckedContinuation<SealedMessage?, any Error>)?
    private var end: Result<Void, SealedMQTTError>?
    private var endError: SealedMQTTError?
    private var pendingDrains: Int
    private var nextReceiverID: UInt64 = 0
    private let inFlightLimit: Int
    private var nextTicket: UInt64 = 0
    private var oldestTicket: UInt64 = 0
    /// Tickets released out of order, by `ticket % inFlightLimit` (all tickets in flight fit).
    private var released: [Bool]
    private var reservers = CircularBuffer<CheckedContinuation<Bool, Never>>(initialCapacity: 1)

    /// - Parameters:
    ///   - capacity: the most messages buffered.
    ///   - workers: how many drain markers end the stream (one per worker, after the reader's last message).
    ///   - inFlightLimit: the most messages of this subscription in the worker pool at once.
    init(capacity: Int, workers: Int, inFlightLimit: Int) {
        self.capacity = max(1, capacity)
        self.pendingDrains = workers
        self.inFlightLimit = max(1, inFlightLimit)
        self.released = Array(repeating: false, count: max(1, inFlightLimit))
    }

    /// The ticket of the next message before the reader hands it to a worker; waits while the reader is
    /// `inFlightLimit` messages ahead of the oldest one not yet opened. Nil when the stream has ended.
    func reserve() async -> UInt64? {
        while true {
            if end != nil { return nil }
            if nextTicket - oldestTicket < UInt64(inFlightLimit) {
                defer { nextTicket += 1 }
                return nextTicket
            }
            let resumed = await withCheckedContinuation { reservers.append($0) }
            if !resumed { return nil }
        }
    }

    /// Marks a message as opened (its replay check is done); the window slides past every opened oldest ticket.
    func release(_ ticket: UInt64) {
        let limit = UInt64(inFlightLimit)
        released[Int(ticket % limit)] = true
        var advanced = false
        while oldestTicket < nextTicket && released[Int(oldestTicket % limit)] {
            released[Int(oldestTicket % limit)] = false
            oldestTicket += 1
            advanced = true
        }
        if advanced { reservers.popFirst()?.resume(returning: true) }
    }

    /// Releases the message's ticket, then hands the message to the consumer; waits while the buffer is full.
    /// False when the stream has ended (the message is dropped: the client is shutting down).
    func send(_ message: SealedMessage, ticket: UInt64) async -> Bool {
        release(ticket)
        while true {
            if end != nil { return false }
            if let receiver {
                self.receiver = nil
                receiver.continuation.resume(returning: message)
                return true
            }
            if buffer.count < capacity {
                buffer.append(message)
                return true
            }
            let resumed = await withCheckedContinuation { senders.append($0) }
            if !resumed { return false }
        }
    }

    /// The next message; nil at the end; throws the end error or `CancellationError`.
    func next() async throws -> SealedMessage? {
        if let message = buffer.popFirst() {
            senders.popFirst()?.resume(returning: true)
            return message
        }
        switch end {
        case .success: return nil
        case .failure(let error): throw error
        case nil: break
        }
        try Task.checkCancellation()
        nextReceiverID &+= 1
        let id = nextReceiverID
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { receiver = (id, $0) }
        } onCancel: {
            Task { await self.cancelReceiver(id) }
        }
    }

    private func cancelReceiver(_ id: UInt64) {
        guard let receiver, receiver.id == id else { return }
        self.receiver = nil
        receiver.continuation.resume(throwing: CancellationError())
    }

    /// The error the stream ends with once every worker drained (nil: a normal end).
    func setEndError(_ error: SealedMQTTError?) {
        if endError == nil { endError = error }
    }

    /// One worker has processed every message the reader gave it; after the last one the stream ends.
    func workerDrained() {
        pendingDrains -= 1
        if pendingDrains <= 0 { finish(endError) }
    }

    /// Ends the stream after the buffered messages; waiting workers get false.
    func finish(_ error: SealedMQTTError?) {
        guard end == nil else { return }
        end = error.map { .failure($0) } ?? .success(())
        while let sender = senders.popFirst() { sender.resume(returning: false) }
        while let reserver = reservers.popFirst() { reserver.resume(returning: false) }
        if let receiver {
            self.receiver = nil
            if let error {
                receiver.continuation.resume(throwing: error)
            } else {
                receiver.continuation.resume(returning: nil)
            }
        }
    }
}

/// What a worker did with a message: the counters kept per worker (rejections go to ``Accounting``).
enum WorkOutcome: Sendable {
    case delivered
    case plaintext
    case dropped
}

/// One verification worker's bounded FIFO queue, plus its counters.
actor WorkerQueue {
    enum Job: Sendable {
        case message(MQTTMessage, SubscriptionPipeline, ticket: UInt64)
        case drain(SubscriptionPipeline)
    }

    private var jobs = CircularBuffer<Job>(initialCapacity: 64)
    private let capacity: Int
    private var senders = CircularBuffer<CheckedContinuation<Bool, Never>>(initialCapacity: 4)
    private var receiver: CheckedContinuation<Job?, Never>?
    private var finished = false
    private(set) var delivered = 0
    private(set) var plaintext = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Enqueues a job; waits while the queue is full. False once the pool is stopped.
    func send(_ job: Job) async -> Bool {
        while true {
            if finished { return false }
            if let receiver {
                self.receiver = nil
                receiver.resume(returning: job)
                return true
            }
            if jobs.count < capacity {
                jobs.append(job)
                return true
            }
            let resumed = await withCheckedContinuation { senders.append($0) }
            if !resumed { return false }
        }
    }

    /// Records the outcome of the previous job and returns the next one; nil once stopped and empty.
    func next(reporting outcome: WorkOutcome?) async -> Job? {
        switch outcome {
        case .delivered: delivered += 1
        case .plaintext: plaintext += 1
        case .dropped, nil: break
        }
        if let job = jobs.popFirst() {
            senders.popFirst()?.resume(returning: true)
            return job
        }
        if finished { return nil }
        return await withCheckedContinuation { receiver = $0 }
    }

    /// Stops accepting jobs; queued jobs are still processed; waiting senders get false.
    func finish() {
        guard !finished else { return }
        finished = true
        while let sender = senders.popFirst() { sender.resume(returning: false) }
        if let receiver, jobs.isEmpty {
            self.receiver = nil
            receiver.resume(returning: nil)
        }
    }

    var counters: (delivered: Int, plaintext: Int) { (delivered, plaintext) }
}

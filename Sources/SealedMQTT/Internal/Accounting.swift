import Logging
import Metrics
import Synchronization

/// The counters, the rate-limited rejection log and the rejection streams of one client.
///
/// Called synchronously from whichever task judges a message (a subscription's consumer or one of its lanes): no
/// actor hop per message. Continuations are resumed and log lines written outside the lock.
final class Accounting: Sendable {
    private struct State {
        var duplicates = 0
        var rejections: [SealedRejection.Reason: Int] = [:]
        var observers: [UInt64: AsyncStream<SealedRejection>.Continuation] = [:]
        var nextObserver: UInt64 = 0
        var logWindows: [SealedRejection.Reason: (since: ContinuousClock.Instant, suppressed: Int)] = [:]
        var rejectedCounters: [SealedRejection.Reason: Counter] = [:]
    }

    private let state = Mutex(State())
    private let published = Atomic<Int>(0)
    private let delivered = Atomic<Int>(0)
    private let plaintext = Atomic<Int>(0)
    private let logger: Logger
    private let interval: Duration
    /// The swift-metrics view of the same counts.
    let metrics = SealedMetrics()

    init(logger: Logger, interval: Duration) {
        self.logger = logger
        self.interval = interval
    }

    /// Counts a dropped message, reports it to the observers and logs it (at most one line per reason per interval).
    func record(_ rejection: SealedRejection) {
        let now = ContinuousClock.now
        let (observers, counter, suppressed) = state.withLock {
            state -> ([AsyncStream<SealedRejection>.Continuation], Counter?, Int?) in
            var counter: Counter?
            if rejection.reason.isDuplicate {
                state.duplicates += 1
            } else {
                state.rejections[rejection.reason, default: 0] += 1
                if let existing = state.rejectedCounters[rejection.reason] {
                    counter = existing
                } else {
                    let created = metrics.rejected(rejection.reason)
                    state.rejectedCounters[rejection.reason] = created
                    counter = created
                }
            }
            var suppressed: Int?
            if let window = state.logWindows[rejection.reason], now < window.since + interval {
                state.logWindows[rejection.reason]!.suppressed += 1
            } else {
                suppressed = state.logWindows[rejection.reason]?.suppressed ?? 0
                state.logWindows[rejection.reason] = (now, 0)
            }
            return (Array(state.observers.values), counter, suppressed)
        }
        if rejection.reason.isDuplicate { metrics.duplicates.increment() }
        counter?.increment()
        for observer in observers { observer.yield(rejection) }
        if let suppressed { log(rejection, suppressed: suppressed) }
    }

    func recordPublished() {
        published.add(1, ordering: .relaxed)
        metrics.published.increment()
    }

    func recordDelivered() {
        delivered.add(1, ordering: .relaxed)
        metrics.delivered.increment()
    }

    func recordPlaintext() {
        plaintext.add(1, ordering: .relaxed)
        metrics.plaintext.increment()
    }

    private func log(_ rejection: SealedRejection, suppressed: Int) {
        var metadata: Logger.Metadata = [
            "topic": "\(rejection.topic)", "reason": "\(rejection.reason)", "subscription": "\(rejection.subscription)",
            "bytes": "\(rejection.payloadBytes)",
        ]
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        if rejection.reason.isDuplicate {
            logger.debug("duplicate message dropped", metadata: metadata)
        } else {
            logger.warning("message rejected", metadata: metadata)
        }
    }

    func observe(bufferingNewest capacity: Int) -> AsyncStream<SealedRejection> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: SealedRejection.self, bufferingPolicy: .bufferingNewest(max(1, capacity)))
        let id = state.withLock { state -> UInt64 in
            state.nextObserver &+= 1
            state.observers[state.nextObserver] = continuation
            return state.nextObserver
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.observers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every rejection stream (finishing runs their termination handlers, so not under the lock).
    func finishObservers() {
        let observers = state.withLock { state in
            defer { state.observers = [:] }
            return Array(state.observers.values)
        }
        for observer in observers { observer.finish() }
    }

    func snapshot() -> SealedStatistics {
        var statistics = SealedStatistics()
        state.withLock { state in
            statistics.duplicates = state.duplicates
            statistics.rejections = state.rejections
        }
        statistics.published = published.load(ordering: .relaxed)
        statistics.delivered = delivered.load(ordering: .relaxed)
        statistics.plaintext = plaintext.load(ordering: .relaxed)
        return statistics
    }
}

import Synchronization

/// Lets at most one key reload through per interval, for every subscription of a client together, and never makes
/// a worker wait for another's reload: a flood of envelopes with unknown key ids costs one `stat` (or one reload)
/// per interval, not one per message, and the verification pool keeps opening the rest meanwhile.
final class KeyRefreshGate: Sendable {
    private let interval: Int64
    private let origin = ContinuousClock.now
    /// Nanoseconds since `origin` before which no reload may start.
    private let nextAllowed = Atomic<Int64>(0)

    init(interval: Duration) {
        let (seconds, attoseconds) = interval.components
        self.interval = max(0, seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000)
    }

    /// True for the one caller that may reload now; false while the interval since the last reload runs (or
    /// another caller won the same moment).
    func tryEnter() -> Bool {
        let elapsed = (ContinuousClock.now - origin).components
        let now = elapsed.seconds &* 1_000_000_000 &+ elapsed.attoseconds / 1_000_000_000
        let allowed = nextAllowed.load(ordering: .relaxed)
        guard now >= allowed else { return false }
        return nextAllowed.compareExchange(expected: allowed, desired: now &+ max(interval, 1), ordering: .relaxed)
            .exchanged
    }
}

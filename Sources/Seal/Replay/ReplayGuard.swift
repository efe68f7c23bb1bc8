import Synchronization

/// The freshness and replay rules of an ``Opener``. All durations are in milliseconds.
public struct ReplayPolicy: Sendable, Hashable {
    /// A live message older than this (by its timestamp) is stale. Default 60 s.
    public var maxAgeMilliseconds: UInt64
    /// A message whose timestamp is further in the future than this is rejected. Default 10 s.
    public var maxFutureSkewMilliseconds: UInt64
    /// A retained message older than this is stale; nil accepts retained messages of any age.
    /// Default 24 h.
    public var retainedMaxAgeMilliseconds: UInt64?
    /// How many accepted sequence numbers are remembered per (kid, sid): at least this many messages
    /// may arrive out of order. Default 256. Memory per pair is at most `2 * window * 8` bytes.
    public var window: Int
    /// How many (kid, sid) pairs are tracked at most. Default 10,000. With the default window the
    /// replay state stays below about 41 MB in the worst case (`maxSenders * 2 * window * 8` bytes).
    public var maxSenders: Int

    /// Creates a policy; see each property for the defaults.
    public init(
        maxAgeMilliseconds: UInt64 = 60_000, maxFutureSkewMilliseconds: UInt64 = 10_000,
        retainedMaxAgeMilliseconds: UInt64? = 86_400_000, window: Int = 256, maxSenders: Int = 10_000
    ) {
        self.maxAgeMilliseconds = maxAgeMilliseconds
        self.maxFutureSkewMilliseconds = maxFutureSkewMilliseconds
        self.retainedMaxAgeMilliseconds = retainedMaxAgeMilliseconds
        self.window = max(window, 1)
        self.maxSenders = max(maxSenders, 1)
    }
}

/// Rejects replayed, stale and future messages per (key id, sender id), with bounded memory.
///
/// Rules (Specs/envelope.md, "Replay rules"):
/// - Freshness: the timestamp (`seq >> 16`, Unix ms) must be within ``ReplayPolicy/maxAgeMilliseconds``
///   in the past and ``ReplayPolicy/maxFutureSkewMilliseconds`` in the future.
/// - Per (kid, sid) the guard remembers at least ``ReplayPolicy/window`` accepted sequence numbers and
///   a floor below which everything is rejected. A sequence number seen before is a replay; a new
///   one above the floor is accepted even out of order.
/// - Retained deliveries are only checked for age (``ReplayPolicy/retainedMaxAgeMilliseconds``): the
///   broker re-sends a retained message on every subscribe.
/// - At most ``ReplayPolicy/maxSenders`` pairs are tracked. When full, pairs whose newest message is
///   stale are dropped first (their messages can never be fresh again); otherwise the eighth of the
///   pairs with the oldest newest message is evicted and a global floor is raised to their newest
///   sequence number, so their old messages cannot be replayed as if from a new sender.
///
/// Safe for concurrent use. The guard is only updated after a message authenticated.
public final class ReplayGuard: Sendable {
    /// The policy in force.
    public let policy: ReplayPolicy
    private let clock: @Sendable () -> UInt64
    private let state: Mutex<State>

    private struct Sender {
        /// Accepted sequence numbers above `floor`, ascending. At most `2 * window` entries.
        var recent: [UInt64]
        /// Every sequence number <= floor is rejected.
        var floor: UInt64
        /// The largest accepted sequence number.
        var newest: UInt64 { recent.last ?? floor }

        /// Records `seq`, or returns why it is rejected.
        @inline(__always)
        mutating func accept(_ seq: UInt64, window: Int) -> SealError.Reason? {
            guard seq > floor else { return .outsideWindow }
            if seq > newest || recent.isEmpty {
                recent.append(seq)  // the usual case: in order
            } else {
                let index = ReplayGuard.lowerBound(recent, seq)
                if index < recent.count && recent[index] == seq { return .replayed }
                recent.insert(seq, at: index)
            }
            if recent.count >= 2 * window {
                floor = recent[window - 1]
                recent.removeFirst(window)
            }
            return nil
        }
    }

    private struct State {
        var senders: [UInt64: Sender] = [:]
        /// New (untracked) senders must be above this.
        var evictionFloor: UInt64 = 0
        /// The pair of the last accepted message and where it sits in `senders`: consecutive messages of one
        /// sender (a batch from one socket read) skip the hash lookup. Cleared whenever `senders` changes shape
        /// (an insertion or removal invalidates dictionary indices); updating a sender in place keeps it valid.
        var last: (pair: UInt64, index: Dictionary<UInt64, Sender>.Index)?
    }

    /// Creates a guard.
    ///
    /// - Parameters:
    ///   - policy: freshness and window limits.
    ///   - clock: Unix milliseconds; inject one in tests.
    public init(policy: ReplayPolicy = ReplayPolicy(), clock: @escaping @Sendable () -> UInt64 = WallClock.milliseconds)
    {
        self.policy = policy
        self.clock = clock
        self.state = Mutex(State())
    }

    /// Number of (kid, sid) pairs currently tracked.
    public var trackedSenders: Int { state.withLock { $0.senders.count } }

    /// How many sequence numbers are remembered for one pair (for tests of the memory bound).
    func rememberedCount(kid: UInt32, sid: UInt32) -> Int {
        state.withLock { $0.senders[UInt64(kid) << 32 | UInt64(sid)]?.recent.count ?? 0 }
    }

    /// Checks the timestamp of `seq` against the clock and returns the time used. Cheap; done before
    /// any cryptography.
    @inline(__always)
    func checkFreshness(seq: UInt64, retained: Bool) throws(SealError) -> UInt64 {
        let timestamp = seq >> 16
        let now = clock()
        if timestamp > now {
            guard timestamp - now <= policy.maxFutureSkewMilliseconds else { throw .rejected(.future) }
            return now
        }
        let age = now - timestamp
        if retained {
            if let maxAge = policy.retainedMaxAgeMilliseconds, age > maxAge { throw .rejected(.stale) }
        } else if age > policy.maxAgeMilliseconds {
            throw .rejected(.stale)
        }
        return now
    }

    /// Records an authenticated live message, or throws when it is a replay or below the window.
    /// `now` is the time of the freshness check.
    func accept(kid: UInt32, sid: UInt32, seq: UInt64, now: UInt64) throws(SealError) {
        let pair = UInt64(kid) << 32 | UInt64(sid)
        let window = policy.window
        let maxSenders = policy.maxSenders
        let staleBefore = now >= policy.maxAgeMilliseconds ? now - policy.maxAgeMilliseconds : 0
        let failure: SealError.Reason? = state.withLock { state in
            if let last = state.last, last.pair == pair {
                return state.senders.values[last.index].accept(seq, window: window)
            }
            if let index = state.senders.index(forKey: pair) {
                // In place: no rehash, no copy of the window.
                state.last = (pair, index)
                return state.senders.values[index].accept(seq, window: window)
            }
            guard seq > state.evictionFloor else { return .outsideWindow }
            state.last = nil
            if state.senders.count >= maxSenders {
                Self.makeRoom(&state, staleBefore: staleBefore, maxSenders: maxSenders)
            }
            var recent: [UInt64] = []
            recent.reserveCapacity(8)
            recent.append(seq)
            state.senders[pair] = Sender(recent: recent, floor: 0)
            return nil
        }
        if let failure { throw .rejected(failure) }
    }

    private static func makeRoom(_ state: inout State, staleBefore: UInt64, maxSenders: Int) {
        // Senders whose newest message is stale can never be accepted again: forget them for free.
        state.senders = state.senders.filter { $0.value.newest >> 16 >= staleBefore }
        guard state.senders.count >= maxSenders else { return }
        // Otherwise evict the eighth of the pairs that were quiet longest (at least one), so this
        // O(n log n) pass runs at most once per maxSenders / 8 new pairs, and raise the floor for new
        // pairs to the newest sequence number among the evicted.
        let evictCount = Swift.max(1, maxSenders / 8)
        let oldest = state.senders.sorted { $0.value.newest < $1.value.newest }.prefix(evictCount)
        for (pair, sender) in oldest {
            state.senders[pair] = nil
            state.evictionFloor = Swift.max(state.evictionFloor, sender.newest)
        }
    }

    @inline(__always)
    fileprivate static func lowerBound(_ sorted: [UInt64], _ value: UInt64) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

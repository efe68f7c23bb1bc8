import Synchronization

/// A pool of initialised OpenSSL contexts for one key, so several threads can use the key at once
/// without re-initialising a context per message (which costs 250-480 ns).
///
/// A caller takes a context (or a fresh one is made when the pool is empty), uses it alone, and gives
/// it back. At most `maxIdle` contexts stay pooled; extra ones are freed.
///
/// The common case, one thread at a time, takes and returns the context in a single atomic slot (one
/// exchange and one compare-exchange, no lock); only concurrent users reach the locked list behind it.
final class ContextPool: @unchecked Sendable {
    /// A context owned by the pool while idle.
    private struct Handle: @unchecked Sendable {
        let context: OpaquePointer
    }

    /// The fast slot: an idle context, or nil.
    private let slot = Atomic<UnsafeMutableRawPointer?>(nil)
    private let idle: Mutex<[Handle]>
    private let make: @Sendable () -> OpaquePointer?
    private let release: @Sendable (OpaquePointer) -> Void
    private let maxIdle: Int

    /// `make` returns a ready context or nil on failure; `release` frees one.
    init(
        maxIdle: Int = 16, make: @escaping @Sendable () -> OpaquePointer?,
        release: @escaping @Sendable (OpaquePointer) -> Void
    ) {
        var contexts: [Handle] = []
        contexts.reserveCapacity(maxIdle)
        self.idle = Mutex(contexts)
        self.make = make
        self.release = release
        self.maxIdle = maxIdle
    }

    /// Runs `body` with a context that no other thread uses meanwhile.
    @inline(__always)
    func withContext<R>(_ body: (OpaquePointer) -> R) throws(SealError) -> R {
        let fast = slot.exchange(nil, ordering: .acquiring).map(OpaquePointer.init)
        let pooled = fast ?? idle.withLock { $0.popLast() }?.context
        guard let context = pooled ?? make() else {
            throw SealError(.cryptoFailure, .library, "cannot create an OpenSSL context")
        }
        let result = body(context)
        let (returned, _) = slot.compareExchange(
            expected: nil, desired: UnsafeMutableRawPointer(context), ordering: .releasing)
        if returned { return result }
        let kept = idle.withLock { contexts -> Bool in
            guard contexts.count < maxIdle else { return false }
            contexts.append(Handle(context: context))
            return true
        }
        if !kept { release(context) }
        return result
    }

    deinit {
        if let context = slot.exchange(nil, ordering: .acquiring) { release(OpaquePointer(context)) }
        for handle in idle.withLock({ $0 }) { release(handle.context) }
    }
}

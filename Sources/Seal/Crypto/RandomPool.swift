import CSodium
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered CSPRNG for nonces: every thread draws from its own 4 KiB pool refilled by
/// `randombytes_buf`, so a nonce costs a copy, not a `getrandom` syscall and not a lock.
///
/// A per-thread pool needs no synchronisation: two threads can never hand out the same bytes because
/// they never share a pool, and one pool hands out each byte once, front to back. (A process-wide
/// pool behind a mutex cost about 60 ns per draw here, a tenth of a 64-byte seal.)
///
/// After `fork` the child refills before its first draw (a `pthread_atfork` handler bumps a
/// generation counter), so parent and child never hand out the same bytes. A thread's pool is wiped
/// and freed when the thread exits.
enum RandomPool {
    /// Pool size in bytes: one `randombytes_buf` call per 512 XChaCha nonces.
    static let capacity = NoncePool.capacity

    /// Fills `count` bytes at `destination` (at most ``capacity``) with random bytes from the calling
    /// thread's pool.
    @inline(__always)
    static func fill(_ destination: UnsafeMutableRawPointer, count: Int) {
        currentPool().pointee.fill(destination, count: count)
    }

    /// The calling thread's pool, created on its first draw.
    @inline(__always)
    private static func currentPool() -> UnsafeMutablePointer<NoncePool> {
        let key = poolKey
        if let existing = pthread_getspecific(key) {
            return existing.assumingMemoryBound(to: NoncePool.self)
        }
        let pool = UnsafeMutablePointer<NoncePool>.allocate(capacity: 1)
        pool.initialize(to: NoncePool())
        let rc = pthread_setspecific(key, pool)
        precondition(rc == 0, "pthread_setspecific failed: \(rc)")
        return pool
    }
}

/// One pool of CSPRNG output with a single owner (a thread, or a test).
struct NoncePool: ~Copyable {
    /// Bytes drawn per refill.
    static let capacity = 4096

    private let buffer: UnsafeMutableRawPointer
    private var used: Int
    private var generation: UInt64

    /// An empty pool: the first draw refills it.
    init() {
        _ = installForkHandler
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 16)
        used = Self.capacity
        generation = forkGeneration.load(ordering: .relaxed)
    }

    /// Fills `count` bytes at `destination` (at most ``capacity``) with bytes no earlier draw of this
    /// pool, or of any other pool, handed out.
    @inline(__always)
    mutating func fill(_ destination: UnsafeMutableRawPointer, count: Int) {
        precondition(count >= 0 && count <= Self.capacity)
        let current = forkGeneration.load(ordering: .relaxed)
        if used + count > Self.capacity || generation != current {
            randombytes_buf(buffer, Self.capacity)
            used = 0
            generation = current
        }
        destination.copyMemory(from: buffer + used, byteCount: count)
        used += count
    }

    deinit {
        sodium_memzero(buffer, Self.capacity)
        buffer.deallocate()
    }
}

/// Bumped in a forked child (see `RandomPool`).
private let forkGeneration = Atomic<UInt64>(0)

private let installForkHandler: Void = {
    _ = pthread_atfork(nil, nil) {
        forkGeneration.add(1, ordering: .relaxed)
    }
}()

/// The thread-specific slot of each thread's pool; its destructor wipes and frees the pool when the
/// thread exits.
private let poolKey: pthread_key_t = {
    var key = pthread_key_t()
    let rc = pthread_key_create(&key) { slot in
        // Optional on Linux, non-optional on Darwin.
        let value: UnsafeMutableRawPointer? = slot
        guard let pointer = value else { return }
        let pool = pointer.assumingMemoryBound(to: NoncePool.self)
        pool.deinitialize(count: 1)
        pool.deallocate()
    }
    precondition(rc == 0, "pthread_key_create failed: \(rc)")
    return key
}()

import CSodium
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered CSPRNG for nonces: a 4 KiB pool refilled by `randombytes_buf`, so a nonce costs a
/// copy under a lock instead of a `getrandom` syscall.
///
/// The pool is refilled in a forked child before its first draw (a `pthread_atfork` handler bumps a
/// generation counter), so parent and child never hand out the same bytes.
final class RandomPool: @unchecked Sendable {
    /// Pool size in bytes.
    static let capacity = 4096

    private struct State {
        var used: Int
        var generation: UInt64
    }

    /// Only touched while `state` is locked.
    private let buffer: UnsafeMutableRawPointer
    private let state: Mutex<State>

    /// The process-wide nonce pool.
    static let shared = RandomPool()

    init() {
        _ = installForkHandler
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 16)
        // Start empty: the first draw refills.
        state = Mutex(State(used: Self.capacity, generation: 0))
    }

    /// Fills `count` bytes at `destination` (at most ``capacity``) with random bytes.
    @inline(__always)
    func fill(_ destination: UnsafeMutableRawPointer, count: Int) {
        precondition(count >= 0 && count <= Self.capacity)
        let generation = forkGeneration.load(ordering: .relaxed)
        let buffer = self.buffer
        state.withLock { state in
            if state.used + count > Self.capacity || state.generation != generation {
                randombytes_buf(buffer, Self.capacity)
                state.used = 0
                state.generation = generation
            }
            let offset = state.used
            let source = buffer + offset
            destination.copyMemory(from: source, byteCount: count)
            // Wipe what was handed out so the same bytes can never be drawn twice.
            sodium_memzero(source, count)
            state.used += count
        }
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

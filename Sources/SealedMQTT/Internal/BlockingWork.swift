import NIOPosix
import SealKeyring

/// The sealed client's blocking work, kept off Swift's cooperative threads: keyring polls and reloads (a `stat`, and
/// for a changed file a read, a decrypt and possibly Argon2id, under the watcher's lock) and fleet slot applies (file
/// lock, read, write, fsync). A cooperative thread blocked there would stall unrelated tasks of the process.
enum BlockingWork {
    /// Threads shared by every client and agent of the process, so that many devices' writes overlap.
    static let pool = NIOThreadPool._makePerpetualStartedPool(numberOfThreads: 16, threadNamePrefix: "seal-io")

    /// Runs `body` on one of the pool's threads and returns its result.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        do {
            return try await pool.runIfActive(body)
        } catch {
            return body()  // unreachable: a perpetual pool never stops
        }
    }

    /// Polls `watcher`'s file every `pollInterval` on the pool until the task is cancelled (what
    /// `KeyringWatcher.run()` does, without blocking the calling task's thread).
    static func poll(_ watcher: KeyringWatcher) async {
        while !Task.isCancelled {
            _ = await run { watcher.checkNow() }
            do {
                try await Task.sleep(for: watcher.pollInterval)
            } catch {
                return
            }
        }
    }
}

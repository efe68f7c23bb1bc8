public import Seal
import Synchronization

/// Hot reload: watches a keyring file and swaps in a new ``KeyringSnapshot`` when the file changes.
///
/// The watcher polls the file's identity (device, inode, size, modification and change time) every
/// `pollInterval`. A changed file is read, verified and decrypted in full before it replaces the current snapshot
/// in one atomic swap. A file that fails (corrupt, wrong credential, unsupported version, bad permissions, or a
/// generation lower than the current one, i.e. a rollback) is reported through `onEvent` and ignored: the
/// previous snapshot stays in use, and the same broken version is not reported again.
public final class KeyringWatcher: SealKeySource, Sendable {
    /// What a poll found.
    public enum Event: Sendable, Hashable {
        /// A new keyring version was validated and swapped in.
        case reloaded(generation: UInt64)
        /// A changed file was rejected; the previous keyring stays in use.
        case rejected(KeyringError)
    }

    private struct State {
        var snapshot: KeyringSnapshot
        var lastSeen: KeyringFileStamp?
        var kek: KeyringUnlockedKEK
    }

    /// The keyring file being watched.
    public let file: KeyringFile
    /// The interval between two polls in ``run()``.
    public let pollInterval: Duration

    private let credential: KeyringCredential
    private let onEvent: @Sendable (Event) -> Void
    private let state: Mutex<State>
    private let checking = Mutex<Void>(())

    /// Loads the keyring now (throwing if it cannot) and prepares to watch it.
    ///
    /// - Parameters:
    ///   - file: the keyring file.
    ///   - credential: kept (in wiped storage) to unlock future versions.
    ///   - pollInterval: how often ``run()`` checks the file.
    ///   - onEvent: called for every reload and every rejected version (log it there).
    /// - Throws: any error of ``KeyringFile/load(credential:)``.
    public init(
        file: KeyringFile, credential: KeyringCredential, pollInterval: Duration = .seconds(1),
        onEvent: @escaping @Sendable (Event) -> Void = { _ in }
    ) throws(KeyringError) {
        let (decoded, stamp) = try file.loadDecoded(credential: credential, cached: nil)
        self.file = file
        self.pollInterval = pollInterval
        self.credential = credential
        self.onEvent = onEvent
        self.state = Mutex(State(snapshot: KeyringSnapshot(decoded.keyring), lastSeen: stamp, kek: decoded.kek))
    }

    /// The snapshot in use. Take it once per message and use that one value.
    public var current: KeyringSnapshot { state.withLock { $0.snapshot } }

    /// Checks the file once; returns what happened, or nil when the file did not change (or the same broken version
    /// was already reported). Events are also passed to `onEvent`.
    @discardableResult
    public func checkNow() -> Event? {
        checking.withLock { _ -> Event? in
            let (lastSeen, kek, generation) = state.withLock { ($0.lastSeen, $0.kek, $0.snapshot.generation) }
            let event: Event
            do throws(KeyringError) {
                let stamp = try KeyringIO.stamp(path: file.path)
                if let stamp, stamp == lastSeen { return nil }
                let (decoded, seen) = try file.loadDecoded(credential: credential, cached: kek)
                if decoded.keyring.generation < generation {
                    state.withLock { $0.lastSeen = seen }
                    event = .rejected(
                        KeyringError(
                            .corrupt,
                            "keyring \(file.path) went back from generation \(generation) to "
                                + "\(decoded.keyring.generation) (rollback?); keeping the current keyring"))
                } else {
                    let snapshot = KeyringSnapshot(decoded.keyring, sealers: state.withLock { $0.snapshot.sealers })
                    state.withLock {
                        $0.snapshot = snapshot
                        $0.lastSeen = seen
                        $0.kek = decoded.kek
                    }
                    event = .reloaded(generation: decoded.keyring.generation)
                }
            } catch {
                let stamp = try? KeyringIO.stamp(path: file.path)
                let alreadyReported = state.withLock { current -> Bool in
                    // Remember the broken version (nil stamp: the file is missing) so it is reported once.
                    let key = stamp ?? KeyringFileStamp.missing
                    if current.lastSeen == key { return true }
                    current.lastSeen = key
                    return false
                }
                if alreadyReported { return nil }
                event = .rejected(error)
            }
            onEvent(event)
            return event
        }
    }

    /// The key from the current snapshot (see ``KeyringSnapshot/key(id:topic:)``): an `Opener` (Seal) built on the
    /// watcher follows reloads.
    public func key(id: UInt32, topic: String) -> SealKey? { current.key(id: id, topic: topic) }

    /// The trusted signer from the current snapshot (see ``KeyringSnapshot/signer(id:topic:)``).
    public func signer(id: UInt32, topic: String) -> VerifyingKey? { current.signer(id: id, topic: topic) }

    /// A sealer for `topic` from the current snapshot (see ``KeyringSnapshot/sealer(for:sign:signAs:now:)``).
    public func sealer(for topic: String, sign: Bool = false, signAs: String? = nil) throws(KeyringError) -> Sealer {
        try current.sealer(for: topic, sign: sign, signAs: signAs)
    }

    /// Polls until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            checkNow()
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                return
            }
        }
    }
}

extension KeyringFileStamp {
    /// Stands for "the file does not exist".
    static let missing = KeyringFileStamp(
        device: 0, inode: 0, size: -1, modifiedSeconds: 0, modifiedNanoseconds: 0, changedSeconds: 0,
        changedNanoseconds: 0)
}

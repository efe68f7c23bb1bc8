import Synchronization
import Testing

@testable import Seal
@testable import SealKeyring

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct KeyringWatcherTests {
    let dir = KeyringTempDir()
    var path: String { dir.file("keyring.json") }
    let credential = KeyringFixtures.passphrase()

    final class EventLog: Sendable {
        private let events = Mutex<[KeyringWatcher.Event]>([])
        init() {}
        func append(_ event: KeyringWatcher.Event) { events.withLock { $0.append(event) } }
        var count: Int { events.withLock { $0.count } }
    }

    func makeWatcher(events: EventLog? = nil) throws -> (KeyringFile, KeyringWatcher, UInt32) {
        let file = KeyringFile(path: path)
        var keyring = Keyring()
        let kid = try keyring.addKey()
        try keyring.promote(kid)
        try file.create(keyring, credential: credential, kdf: KeyringFixtures.kdf)
        let box = events
        let watcher = try KeyringWatcher(file: file, credential: credential, pollInterval: .milliseconds(20)) {
            event in box?.append(event)
        }
        return (file, watcher, kid)
    }

    @Test func unchangedFileReportsNothing() throws {
        let (_, watcher, kid) = try makeWatcher()
        #expect(watcher.checkNow() == nil)
        #expect(try watcher.current.primaryKey(for: "t").kid == kid)
    }

    @Test func validChangeIsPickedUp() throws {
        let (file, watcher, old) = try makeWatcher()
        let new = try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.rotate() }
        let before = watcher.current
        guard case .reloaded(let generation) = watcher.checkNow() else {
            Issue.record("expected a reload")
            return
        }
        #expect(generation == 2)
        #expect(watcher.current.generation == 2)
        #expect(try watcher.current.primaryKey(for: "t").kid == new)
        #expect(try watcher.current.openingKey(kid: old, topic: "t").state == KeyState.decryptOnly)
        // A snapshot taken earlier is unchanged (swap, not mutation).
        #expect(try before.primaryKey(for: "t").kid == old)
        #expect(watcher.checkNow() == nil)
    }

    @Test(arguments: ["garbage", "truncated", "permissions", "wrong-passphrase", "missing", "version"])
    func brokenFileIsReportedOnceAndIgnored(kind: String) throws {
        let events = EventLog()
        let (file, watcher, kid) = try makeWatcher(events: events)
        let good = KeyringTestIO.readAll(path)
        let expected: KeyringError.Code
        switch kind {
        case "garbage":
            KeyringTestIO.replace(path, with: Array("not json".utf8))
            expected = .corrupt
        case "truncated":
            KeyringTestIO.replace(path, with: Array(good[0..<(good.count / 2)]))
            expected = .corrupt
        case "permissions":
            KeyringTestIO.setMode(path, 0o644)
            expected = .permissions
        case "wrong-passphrase":
            unlink(path)
            try file.create(credential: KeyringFixtures.passphrase("other"), kdf: KeyringFixtures.kdf)
            expected = .wrongCredential
        case "missing":
            unlink(path)
            expected = .notFound
        default:
            let text = String(decoding: good, as: UTF8.self).replacing("\"version\": 1", with: "\"version\": 9")
            KeyringTestIO.replace(path, with: Array(text.utf8))
            expected = .unsupportedVersion
        }
        guard case .rejected(let error) = watcher.checkNow() else {
            Issue.record("expected a rejection")
            return
        }
        #expect(error.code == expected, "\(error)")
        #expect(watcher.current.generation == 1)
        #expect(try watcher.current.primaryKey(for: "t").kid == kid)
        // The same broken version is not reported again.
        #expect(watcher.checkNow() == nil)
        #expect(events.count == 1)
        // A valid version afterwards is picked up.
        if kind == "permissions" { KeyringTestIO.setMode(path, 0o600) }
        KeyringTestIO.replace(path, with: good)
        try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        guard case .reloaded(let generation) = watcher.checkNow() else {
            Issue.record("expected a reload after the fix")
            return
        }
        #expect(generation == 2)
        #expect(events.count == 2)
    }

    @Test func rollbackToAnOlderGenerationIsRejected() throws {
        let (file, watcher, _) = try makeWatcher()
        let generationOne = KeyringTestIO.readAll(path)
        let kid = try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.disable(kid) }
        guard case .reloaded(3) = watcher.checkNow() else {
            Issue.record("expected generation 3")
            return
        }
        KeyringTestIO.replace(path, with: generationOne)
        guard case .rejected(let error) = watcher.checkNow() else {
            Issue.record("expected a rejected rollback")
            return
        }
        #expect(error.code == KeyringError.Code.corrupt)
        #expect(error.message.contains("generation"))
        #expect(watcher.current.generation == 3)
        #expect(throws: KeyringError.self) { try watcher.current.openingKey(kid: kid, topic: "t") }
    }

    @Test func runLoopPicksUpAChange() async throws {
        let (file, watcher, _) = try makeWatcher()
        let task = Task { await watcher.run() }
        defer { task.cancel() }
        let new = try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.rotate() }
        // Wait (bounded) for the background poll; this is not a timing assertion.
        for _ in 0..<500 where watcher.current.generation < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(watcher.current.generation == 2)
        #expect(try watcher.current.primaryKey(for: "t").kid == new)
        task.cancel()
        await task.value
    }

    /// An Opener built on the watcher follows reloads; the sealer of an unchanged primary survives a reload.
    @Test func openerOnTheWatcherFollowsReloads() throws {
        let (file, watcher, old) = try makeWatcher()
        let opener = Opener(keys: watcher, replayGuard: ReplayGuard())
        let sealer = try watcher.sealer(for: "t")
        #expect(try opener.open(sealer.seal([1], topic: "t"), topic: "t").keyID == old)
        let other = try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        #expect(watcher.checkNow() == .reloaded(generation: 2))
        #expect(try watcher.sealer(for: "t") === sealer)
        // Messages sealed with the new pending key open after the reload.
        var next = watcher.current.keyring
        try next.promote(other)
        let envelope = try KeyringSnapshot(next).sealer(for: "t").seal([2], topic: "t")
        #expect(try opener.open(envelope, topic: "t").keyID == other)
        // Disabling the old key in the file stops it from opening once reloaded.
        let late = try sealer.seal([3], topic: "t")
        try file.update(credential: credential) { keyring throws(KeyringError) in
            try keyring.promote(other)
            try keyring.disable(old)
        }
        #expect(watcher.checkNow() == .reloaded(generation: 3))
        #expect(throws: SealError.self) { try opener.open(late, topic: "t") }
        #expect(try watcher.sealer(for: "t").keyID == other)
    }

    @Test func initialLoadFailureThrows() throws {
        KeyringTestIO.replace(path, with: Array("{".utf8))
        #expect {
            try KeyringWatcher(file: KeyringFile(path: path), credential: credential)
        } throws: { ($0 as! KeyringError).code == .corrupt }
    }
}

import Glibc
import LocalBroker
import MQTT
import Seal
import SealKeyring
import Synchronization
import Testing

@testable import SealedMQTT

/// The name of the calling thread, as the kernel has it (Swift's cooperative threads have the process's name).
private func currentThreadName() -> String {
    let fd = open("/proc/thread-self/comm", O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 64)
    let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return "" }
    return String(decoding: bytes[..<count], as: UTF8.self).trimmingSuffix("\n")
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// The threads reloads ran on.
private final class ReloadThreads: Sendable {
    private let names = Mutex<[String]>([])

    func record() { names.withLock { $0.append(currentThreadName()) } }

    var all: [String] { names.withLock { $0 } }
}

/// Where keyring reloads run: file I/O and possibly Argon2id under the watcher's lock must not block one of Swift's
/// cooperative threads (a few per core, shared by every task of the process).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SealedKeyReloadTests {
    /// A watcher that records the thread of every reload it performs.
    private func recordingWatcher(
        _ keys: KeyringFixture, poll: Duration, threads: ReloadThreads
    ) throws
        -> KeyringWatcher
    {
        try KeyringWatcher(file: keys.file, credential: keys.credential, pollInterval: poll) { event in
            if case .reloaded = event { threads.record() }
        }
    }

    @Test func theReloadAnUnknownKidTriggersRunsOnTheBlockingPool() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let publisherKeys = try keys.watcher()
        let threads = ReloadThreads()
        // Never polled: only an unknown kid makes it reload.
        let subscriberKeys = try recordingWatcher(keys, poll: .seconds(3600), threads: threads)
        let publisher = try await broker.sealedClient("reload-pool-pub", keys: publisherKeys)
        let subscriber = try await broker.sealedClient("reload-pool-sub", keys: subscriberKeys)
        let stream = try await subscriber.subscribe(to: "reload/#", qos: .atLeastOnce)
        let rotated = try keys.update { keyring throws(KeyringError) in try keyring.rotate() }
        #expect(publisherKeys.refreshKeys())
        try await publisher.publish(to: "reload/a", payload: bytes("new key"), qos: .atLeastOnce)
        let opened = try await collect(stream, count: 1)
        #expect(opened.map(\.keyID) == [rotated])
        let names = threads.all
        #expect(names.count == 1)
        #expect(names.allSatisfy { $0.hasPrefix("seal-io") }, "reloaded on \(names)")
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func runPollsTheKeyringOnTheBlockingPool() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let threads = ReloadThreads()
        let watcher = try recordingWatcher(keys, poll: .milliseconds(20), threads: threads)
        let client = try SealedMQTTClient(mqtt: broker.mqttConfiguration("poll-pool"), keys: watcher)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            try keys.update { keyring throws(KeyringError) in _ = try keyring.rotate() }
            try await eventually(10, "the poll picked up the rotation") { !threads.all.isEmpty }
            group.cancelAll()
            try? await group.waitForAll()
        }
        let names = threads.all
        #expect(names.allSatisfy { $0.hasPrefix("seal-io") }, "polled on \(names)")
    }
}

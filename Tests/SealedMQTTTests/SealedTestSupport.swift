import LocalBroker
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with `TestTimeout` after `seconds`. Returns at the deadline even when `body` ignores
/// cancellation (it is cancelled and left to finish on its own), so a hung operation cannot hang the test.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String = "operation", _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = OnceBox<CheckedContinuation<T, any Error>>()
    let work = Task { try await body() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            once.withLock { $0 = continuation }
            Task {
                let result = await work.result
                once.withLock { $0.take() }?.resume(with: result)
            }
            Task {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                if let pending = once.withLock({ $0.take() }) {
                    work.cancel()
                    pending.resume(throwing: TestTimeout(what: what))
                }
            }
        }
    } onCancel: {
        work.cancel()
    }
}

/// Holds a value that exactly one party takes.
final class OnceBox<Value: Sendable>: Sendable {
    private let slot = Mutex<Value?>(nil)

    func withLock<R>(_ body: (inout Value?) -> R) -> R { slot.withLock { body(&$0) } }
}

/// Waits for an unstructured task's value, cancelling it when the wait times out.
func value<T: Sendable>(of task: Task<T, any Error>, within seconds: Double, _ what: String) async throws -> T {
    try await withTimeout(seconds, what) {
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}

/// Polls `condition` every 10 ms until it holds; throws `TestTimeout` after `seconds`.
func eventually(
    _ seconds: Double, _ what: String, _ condition: @escaping @Sendable () async throws -> Bool
)
    async throws
{
    try await withTimeout(seconds, what) {
        while try await !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }
}

/// Collects exactly `count` verified messages (bounded by `seconds`).
func collect(_ stream: SealedMessageStream, count: Int, seconds: Double = 10) async throws -> [SealedMessage] {
    try await withTimeout(seconds, "\(count) sealed messages") {
        var messages: [SealedMessage] = []
        if count == 0 { return messages }
        for try await message in stream {
            messages.append(message)
            if messages.count == count { break }
        }
        return messages
    }
}

/// Collects `count` raw MQTT messages (bounded by `seconds`).
func collectRaw(_ stream: MQTTMessageStream, count: Int, seconds: Double = 10) async throws -> [MQTTMessage] {
    try await withTimeout(seconds, "\(count) raw messages") {
        var messages: [MQTTMessage] = []
        for try await message in stream {
            messages.append(message)
            if messages.count == count { break }
        }
        return messages
    }
}

/// Messages collected by several tasks.
final class DeliveredMessages: Sendable {
    let messages = Mutex<[SealedMessage]>([])
}

/// Runs `body` while child tasks read `streams`, so that their messages are judged (a sealed stream opens and
/// counts messages as its consumer reads them); returns `body`'s result and the messages delivered meanwhile.
func whileReading<R: Sendable>(
    _ streams: [SealedMessageStream], _ body: @escaping @Sendable () async throws -> R
) async throws -> (R, [SealedMessage]) {
    let delivered = DeliveredMessages()
    let result = try await withThrowingTaskGroup(of: R?.self) { group in
        for stream in streams {
            group.addTask {
                do {
                    for try await message in stream { delivered.messages.withLock { $0.append(message) } }
                } catch is CancellationError {}
                return nil
            }
        }
        group.addTask { try await body() }
        var result: R?
        while result == nil, let next = try await group.next() { result = next }
        group.cancelAll()
        return result!
    }
    return (result, delivered.messages.withLock { $0 })
}

/// Waits for the next `count` rejections (bounded by `seconds`) while reading `streams` (the subscriptions whose
/// messages are to be judged); a message those streams deliver meanwhile is a test failure.
func nextRejections(
    _ stream: AsyncStream<SealedRejection>, count: Int, seconds: Double = 10, reading streams: [SealedMessageStream],
    sourceLocation: SourceLocation = #_sourceLocation
) async throws
    -> [SealedRejection]
{
    let (rejections, delivered) = try await whileReading(streams) {
        try await withTimeout(seconds, "\(count) rejections") {
            var rejections: [SealedRejection] = []
            for await rejection in stream {
                rejections.append(rejection)
                if rejections.count == count { break }
            }
            return rejections
        }
    }
    #expect(
        delivered.isEmpty, "delivered while waiting for rejections: \(delivered.map(\.payloadString))",
        sourceLocation: sourceLocation)
    return rejections
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A temporary directory removed (with its files) at the end of the test.
final class TempDir: Sendable {
    let path: String

    init() {
        var template = Array("/tmp/sealedmqtt-test-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit {
        guard let dir = opendir(path) else { return }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = KeyringIO.entryName(UnsafeRawPointer(entry))
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        for name in names { unlink(file(name)) }
        rmdir(path)
    }
}

/// A keyring file unlocked by a key-encryption-key file (no Argon2id: fast), in its own temporary folder.
struct KeyringFixture: Sendable {
    let folder: TempDir
    let file: KeyringFile
    let credential: KeyringCredential

    init(_ setup: (inout Keyring) throws(KeyringError) -> Void) throws {
        folder = TempDir()
        file = KeyringFile(path: folder.file("group.keyring"))
        credential = try KeyringCredential.generateKeyEncryptionKeyFile(folder.file("group.kek"))
        var keyring = Keyring()
        try setup(&keyring)
        try file.create(keyring, credential: credential)
    }

    /// Read-modify-write of the file, as `mqtt-seal keys ...` does.
    @discardableResult
    func update<R>(_ body: (inout Keyring) throws(KeyringError) -> R) throws -> R {
        try file.update(credential: credential, body)
    }

    func watcher(poll: Duration = .milliseconds(20)) throws -> KeyringWatcher {
        try KeyringWatcher(file: file, credential: credential, pollInterval: poll)
    }

    func snapshot() throws -> KeyringSnapshot { KeyringSnapshot(try file.load(credential: credential)) }
}

/// One primary key (promoted) in `scope`.
@discardableResult
func addPrimary(
    _ keyring: inout Keyring, suite: Suite = .xchacha20poly1305, scope: [String] = ["#"]
)
    throws(KeyringError) -> UInt32
{
    let kid = try keyring.addKey(suite: suite, scope: try TopicScope(parsing: scope))
    try keyring.promote(kid)
    return kid
}

extension LocalBroker {
    func mqttConfiguration(_ clientID: String) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(host: host, port: plainPort, clientID: clientID)
        configuration.connectTimeout = .seconds(5)
        configuration.requestTimeout = .seconds(5)
        configuration.reconnect = .disabled
        return configuration
    }

    /// A connected sealed client.
    func sealedClient(
        _ clientID: String, keys: any SealingKeySource, policy: SealedPolicy = .standard,
        configure: (inout SealedMQTTConfiguration) -> Void = { _ in },
        mqtt configureMQTT: (inout MQTTClientConfiguration) -> Void = { _ in }
    ) async throws -> SealedMQTTClient {
        var configuration = SealedMQTTConfiguration(policy: policy)
        configure(&configuration)
        var mqtt = mqttConfiguration(clientID)
        configureMQTT(&mqtt)
        let client = try SealedMQTTClient(mqtt: mqtt, keys: keys, configuration: configuration)
        try await client.connect()
        return client
    }

    /// A connected raw (unsealed) MQTT client: the attacker's or a clear-data peer's.
    func rawClient(_ clientID: String) async throws -> MQTTClient {
        let client = try MQTTClient(configuration: mqttConfiguration(clientID))
        try await client.connect()
        return client
    }
}

import Foundation
import LocalBroker
import Logging
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization

/// The demo's story, step by step; prints what happens as it goes.
final class SealedDemo: Sendable {
    let count: Int
    let topic: String
    let folder: URL
    let keyringFile: KeyringFile
    let credential: KeyringCredential

    /// What the subscriber saw.
    struct Tally {
        var verified: [Int] = []
        var rejected: [String] = []
        var keysSeen: Set<UInt32> = []
    }

    init(count: Int, topicPrefix: String) throws {
        self.count = count
        self.topic = topicPrefix + "/telemetry"
        folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mqtt-seal-demo-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        keyringFile = KeyringFile(path: folder.appendingPathComponent("demo.keyring").path)
        do {
            credential = try KeyringCredential.generateKeyEncryptionKeyFile(
                folder.appendingPathComponent("demo.kek").path)
        } catch {
            throw CLIFailure(.ioError, "demo: \(error.message)")
        }
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Runs the demo; true when every genuine message was verified and every forgery rejected.
    func run(host: String?, port: Int) async throws -> Bool {
        var broker: LocalBroker?
        let endpoint: (host: String, port: Int)
        if let host {
            endpoint = (host, port)
        } else {
            do {
                let started = try await LocalBroker.start()
                broker = started
                endpoint = (started.host, started.plainPort)
                say("broker      mosquitto started on \(started.host):\(started.plainPort) (pid \(started.pid ?? 0))")
            } catch {
                throw CLIFailure(.ioError, "demo: cannot start mosquitto: \(error)")
            }
        }
        do {
            let passed = try await story(host: endpoint.host, port: endpoint.port)
            if let broker { _ = await broker.stop() }
            return passed
        } catch {
            if let broker { _ = await broker.stop() }
            throw error
        }
    }

    private func story(host: String, port: Int) async throws -> Bool {
        // 1. The keyring: one primary key for every topic and one signing identity (which the keyring trusts).
        let (firstKey, signer) = try keyring { keyring throws(KeyringError) in
            let kid = try keyring.addKey(suite: .xchacha20poly1305)
            _ = try keyring.promote(kid)
            return (kid, try keyring.newSigningIdentity(name: "demo-publisher"))
        }
        say(
            "keyring     \(keyringFile.path): key \(KeyringID.format(firstKey)) (xchacha20poly1305, primary), signer \(KeyringID.format(signer))"
        )

        // 2. Publisher and subscriber each watch the keyring file, as two separate processes would, and each wraps
        //    its MQTT client in a SealedMQTTClient. The attacker is a plain MQTT client that records the wire.
        let quiet = SealedMQTTConfiguration(logger: Logger(label: "demo", factory: { _ in SwiftLogNoOpLogHandler() }))
        let publisher = SealedMQTTClient(
            client: try client("demo-publisher", host: host, port: port), keys: try watch(), configuration: quiet)
        let subscriber = SealedMQTTClient(
            client: try client("demo-subscriber", host: host, port: port), keys: try watch(), configuration: quiet)
        let attacker = try client("demo-attacker", host: host, port: port)
        do {
            for sealed in [subscriber, publisher] { try await sealed.connect() }
            try await attacker.connect()
        } catch {
            throw CLIFailure(.ioError, "demo: cannot connect to the broker at \(host):\(port): \(error)")
        }
        let stream = try await subscriber.subscribe(to: topicPrefixFilter, qos: .atLeastOnce)
        let rejections = await subscriber.rejections()
        let wire = try await attacker.subscribe(to: topic, qos: .atLeastOnce)

        let tally = TallyBox()
        let receiving = Task {
            for try await message in stream { Self.record(message, in: tally) }
        }
        let rejecting = Task {
            for await rejection in rejections {
                tally.state.withLock { $0.rejected.append(rejection.reason.description) }
                say("subscriber  ✘ \(rejection.topic)  rejected (reason: \(rejection.reason))")
            }
        }
        let capturing = Task { () -> [UInt8] in
            for try await message in wire { return Array(buffer: message.payload) }
            return []
        }

        // 3. Publish, rotating the key half-way through.
        var secondKey: UInt32 = 0
        for index in 1...count {
            if index == count / 2 + 1 {
                let (newKid, oldKid) = try keyring { keyring throws(KeyringError) in
                    let old = keyring.primary(of: .all)?.kid ?? 0
                    return (try keyring.rotate(), old)
                }
                secondKey = newKid
                say(
                    "operator    rotated: key \(KeyringID.format(newKid)) is primary, \(KeyringID.format(oldKid)) is decrypt-only"
                )
                // The publisher notices the new file (a running process polls it; the demo does not wait a whole
                // poll interval). The subscriber has not reloaded yet: the first envelope under the new key makes it
                // re-read the keyring before deciding.
                _ = publisher.keys.refreshKeys()
            }
            let payload = Array("reading #\(index)".utf8)
            let sealer = try publisher.keys.sealer(for: topic, signing: .whenAvailable)
            say(
                "publisher   → \(topic)  \(sealer.overhead + payload.count) bytes sealed with key \(KeyringID.format(sealer.keyID))"
            )
            do {
                try await publisher.publish(to: topic, payload: payload, qos: .atLeastOnce)
            } catch {
                throw CLIFailure(.ioError, "demo: publish: \(error)")
            }
        }

        // 4. The attacker replays, tampers with and re-routes the first envelope it saw on the wire.
        let captured = try await withTimeout(seconds: 10) { try await capturing.value }
        say("attacker    → replays message #1 on \(topic)")
        try await attacker.publish(to: topic, payload: ByteBuffer(bytes: captured), qos: .atLeastOnce)
        var tampered = captured
        tampered[tampered.count / 2] ^= 0x01
        say("attacker    → flips one bit of message #1")
        try await attacker.publish(to: topic, payload: ByteBuffer(bytes: tampered), qos: .atLeastOnce)
        let elsewhere = topic.replacingOccurrences(of: "telemetry", with: "commands")
        say("attacker    → moves message #1 to \(elsewhere)")
        try await attacker.publish(to: elsewhere, payload: ByteBuffer(bytes: captured), qos: .atLeastOnce)

        // 5. Wait (bounded) for everything to arrive, then summarise.
        let expected = count + 3
        let deadline = ContinuousClock.now + .seconds(15)
        while tally.state.withLock({ $0.verified.count + $0.rejected.count }) < expected
            && ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        receiving.cancel()
        rejecting.cancel()
        await subscriber.disconnect()
        await publisher.disconnect()
        await attacker.disconnect()

        let result = tally.state.withLock { $0 }
        let allVerified = result.verified.sorted() == Array(1...count)
        let allRejected = result.rejected.count == 3
        let bothKeys = result.keysSeen == [firstKey, secondKey]
        say("")
        say(
            "summary     published \(count) genuine messages, verified \(result.verified.count), lost \(count - Set(result.verified).count)"
        )
        say(
            "            keys used: \(result.keysSeen.sorted().map(KeyringID.format).joined(separator: ", ")) (rotation without loss: \(bothKeys ? "yes" : "NO"))"
        )
        say(
            "            forgeries rejected: \(result.rejected.count) of 3 (\(result.rejected.joined(separator: ", ")))"
        )
        say(allVerified && allRejected && bothKeys ? "result      OK" : "result      UNEXPECTED")
        return allVerified && allRejected && bothKeys
    }

    /// Counts and prints one verified message.
    private static func record(_ message: SealedMessage, in tally: TallyBox) {
        let text = message.payloadString
        let index = Int(text.split(separator: "#").last ?? "") ?? -1
        let kid = message.envelope?.keyID
        let signer = message.envelope?.signer
        tally.state.withLock {
            $0.verified.append(index)
            if let kid { $0.keysSeen.insert(kid) }
        }
        let key = kid.map(KeyringID.format) ?? "-"
        say("subscriber  ✔ \(message.topic)  \"\(text)\"  key \(key) signer \(signer.map(KeyringID.format) ?? "-")")
    }

    private var topicPrefixFilter: String {
        topic.split(separator: "/").dropLast().joined(separator: "/") + "/#"
    }

    private func keyring<R>(_ body: (inout Keyring) throws(KeyringError) -> R) throws -> R {
        do {
            if (try? keyringFile.load(credential: credential)) == nil {
                try keyringFile.create(credential: credential)
            }
            return try keyringFile.update(credential: credential, body)
        } catch {
            throw CLIFailure(.dataError, "demo: keyring: \(error.message)")
        }
    }

    /// Waits for `body` at most `seconds`; a demo step that hangs is a failure, never a wait.
    private func withTimeout<R: Sendable>(
        seconds: Int, _ body: @escaping @Sendable () async throws -> R
    ) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw CLIFailure(.ioError, "demo: the attacker saw nothing on the wire within \(seconds) s")
            }
            return value
        }
    }

    private func watch() throws -> KeyringWatcher {
        do {
            return try KeyringWatcher(file: keyringFile, credential: credential, pollInterval: .milliseconds(100)) {
                event in
                if case .rejected(let error) = event { say("keyring     reload rejected: \(error.message)") }
            }
        } catch {
            throw CLIFailure(.dataError, "demo: keyring: \(error.message)")
        }
    }

    private func client(_ id: String, host: String, port: Int) throws -> MQTTClient {
        var configuration = MQTTClientConfiguration(host: host, port: port, clientID: id)
        configuration.reconnect = .disabled
        do {
            return try MQTTClient(configuration: configuration)
        } catch {
            throw CLIFailure(.ioError, "demo: \(error)")
        }
    }
}

/// The subscriber's tally, shared by the tasks that receive, reject and wait.
final class TallyBox: Sendable {
    let state = Mutex(SealedDemo.Tally())
}

/// Prints one line of the demo's story on stdout.
func say(_ line: String) {
    print(line)
}

import LocalBroker
import MQTT
import Seal
import SealKeyring
import SealedMQTT
import Testing

/// One suite × mode combination of the round-trip test.
struct SuiteMode: Sendable, CustomTestStringConvertible {
    var suite: Suite
    var signed: Bool

    var mode: SealMode {
        switch (suite, signed) {
        case (.ed25519, _): .sign
        case (.hmacSHA256, _): .mac
        case (_, true): .encryptAndSign
        case (_, false): .encrypt
        }
    }

    var testDescription: String { "\(suite)\(signed && suite != .ed25519 ? "+sign" : "")" }

    static let all: [SuiteMode] = [
        SuiteMode(suite: .xchacha20poly1305, signed: false),
        SuiteMode(suite: .aes256gcm, signed: false),
        SuiteMode(suite: .xchacha20poly1305, signed: true),
        SuiteMode(suite: .aes256gcm, signed: true),
        SuiteMode(suite: .hmacSHA256, signed: false),
        SuiteMode(suite: .ed25519, signed: true),
    ]
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct SealedRoundTripTests {
    @Test(arguments: SuiteMode.all)
    func sealedRoundTrip(_ case: SuiteMode) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        var kid: UInt32 = 0
        var sid: UInt32 = 0
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            if `case`.suite != .ed25519 { kid = try addPrimary(&keyring, suite: `case`.suite, scope: ["rt/#"]) }
            if `case`.signed { sid = try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["rt/#"])) }
        }
        let topicPolicy: SealedTopicPolicy =
            switch `case`.mode {
            case .sign: SealedTopicPolicy(requiresSignature: true, signing: .always, sealing: .signOnly)
            case .encryptAndSign: .signed(by: [sid])
            default: SealedTopicPolicy(signing: .never)
            }
        let policy = try SealedPolicy(rules: ["rt/#": topicPolicy])
        let publisher = try await broker.sealedClient("rt-pub", keys: try keys.watcher(), policy: policy)
        let subscriber = try await broker.sealedClient("rt-sub", keys: try keys.watcher(), policy: policy)

        // A retained message first: the subscriber gets it on subscribe with the retain flag.
        try await publisher.publish(to: "rt/state", payload: bytes("retained"), qos: .atLeastOnce, retain: true)
        let stream = try await subscriber.subscribe(to: "rt/#", qos: .atLeastOnce)
        let before = WallClock.milliseconds()
        for index in 0..<3 {
            try await publisher.publish(to: "rt/data/\(index)", payload: bytes("reading \(index)"), qos: .atLeastOnce)
        }
        // Different topics may be verified on different workers: compare in topic order.
        let messages = try await collect(stream, count: 4).sorted { $0.topic < $1.topic }
        let after = WallClock.milliseconds()

        #expect(messages.map(\.topic) == ["rt/data/0", "rt/data/1", "rt/data/2", "rt/state"])
        #expect(messages.map(\.payloadString) == ["reading 0", "reading 1", "reading 2", "retained"])
        #expect(messages.map(\.retain) == [false, false, false, true])
        #expect(messages.allSatisfy { !$0.isPlaintext && $0.mode == `case`.mode })
        let expectedKid = `case`.suite == .ed25519 ? sid : kid
        #expect(messages.allSatisfy { $0.keyID == expectedKid })
        #expect(messages.allSatisfy { $0.signer == (`case`.signed ? sid : nil) })
        if `case`.signed { #expect(messages.allSatisfy { $0.senderID == sid }) }
        for message in messages.dropLast() {
            let timestamp = try #require(message.timestampMilliseconds)
            #expect(timestamp >= before - 5_000 && timestamp <= after)
        }
        // The envelope really is not plaintext on the wire (except in the clear MAC / sign-only modes).
        let sealed = try publisher.seal(bytes("secret"), for: "rt/x")
        #expect(sealed.count > 6)
        let clearModes: Set<SealMode> = [.mac, .sign]
        #expect(
            clearModes.contains(`case`.mode)
                == sealed.indices.dropLast(5).contains { Array(sealed[$0..<$0 + 6]) == bytes("secret") })

        try await eventually(5, "statistics") { await subscriber.statistics.delivered == 4 }
        let statistics = await subscriber.statistics
        #expect(statistics.rejected == 0 && statistics.duplicates == 0 && statistics.plaintext == 0)
        #expect(await publisher.statistics.published == 4)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// The harness's pacer path: sealing and publishing at QoS 0 without suspending. Every envelope opens, in
    /// order, and counts as published; a shut-down client refuses with `shutDown`.
    @Test func publishingWithoutWaitingSealsEveryMessage() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring, scope: ["now/#"]) }
        let publisher = try await broker.sealedClient("now-pub", keys: try keys.watcher())
        let subscriber = try await broker.sealedClient("now-sub", keys: try keys.watcher())
        let stream = try await subscriber.subscribe(to: "now/#", qos: .atMostOnce)
        let count = 2_000
        try await withThrowingTaskGroup(of: [SealedMessage].self) { group in
            group.addTask { try await collect(stream, count: count, seconds: 30) }
            for index in 0..<count {
                if try !publisher.publishWithoutWaiting(to: "now/\(index % 3)", payload: bytes("m \(index)")) {
                    while !publisher.canPublishWithoutWaiting { try await Task.sleep(for: .milliseconds(1)) }
                }
            }
            let messages = try #require(try await group.next())
            #expect(messages.map(\.payloadString) == (0..<count).map { "m \($0)" })
            #expect(messages.allSatisfy { !$0.isPlaintext && $0.mode == .encrypt })
        }
        #expect(await publisher.statistics.published == count)
        await publisher.disconnect()
        let refusal = #expect(throws: SealedMQTTError.self) {
            _ = try publisher.publishWithoutWaiting(to: "now/0", payload: bytes("late"))
        }
        #expect(refusal?.code == .shutDown)
        #expect(await subscriber.statistics.rejected == 0)
        await subscriber.disconnect()
    }
}

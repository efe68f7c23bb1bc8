import LocalBroker
import Logging
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization
import Testing

/// Every rejection is dropped (never delivered), counted with its reason and reported on the rejection stream;
/// genuine traffic around it still flows.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SealedRejectionTests {
    /// A broker, a keyring with one primary key on every topic and a signing identity, a sealed publisher and
    /// subscriber (subscribed to `t/#`), and a raw attacker that captured the first genuine envelope.
    struct Scene {
        let broker: LocalBroker
        let keys: KeyringFixture
        let publisher: SealedMQTTClient
        let subscriber: SealedMQTTClient
        let attacker: MQTTClient
        let stream: SealedMessageStream
        let rejections: AsyncStream<SealedRejection>
        let captured: [UInt8]

        static func make(
            policy: SealedPolicy = .standard, publisherPolicy: SealedPolicy? = nil,
            setup: (inout Keyring) throws(KeyringError) -> Void = { keyring throws(KeyringError) in
                try addPrimary(&keyring)
                try keyring.newSigningIdentity()
            }
        ) async throws -> Scene {
            let broker = try await LocalBroker.start()
            let keys = try KeyringFixture(setup)
            let publisher = try await broker.sealedClient(
                "pub", keys: try keys.watcher(), policy: publisherPolicy ?? policy)
            let subscriber = try await broker.sealedClient("sub", keys: try keys.watcher(), policy: policy)
            let attacker = try await broker.rawClient("attacker")
            let tap = try await attacker.subscribe(to: "t/#", qos: .atLeastOnce)
            let stream = try await subscriber.subscribe(to: "t/#", qos: .atLeastOnce)
            let rejections = await subscriber.rejections()
            try await publisher.publish(to: "t/a", payload: bytes("genuine 1"), qos: .atLeastOnce)
            let first = try await collect(stream, count: 1)
            #expect(first.map(\.payloadString) == ["genuine 1"])
            let captured = Array(buffer: try await collectRaw(tap, count: 1)[0].payload)
            try await attacker.unsubscribe(["t/#"])
            return Scene(
                broker: broker, keys: keys, publisher: publisher, subscriber: subscriber, attacker: attacker,
                stream: stream, rejections: rejections, captured: captured)
        }

        /// Publishes raw bytes as the attacker and returns the one rejection it caused.
        func inject(_ payload: [UInt8], topic: String = "t/a", retain: Bool = false) async throws -> SealedRejection {
            try await attacker.publish(
                to: topic, payload: ByteBuffer(bytes: payload), qos: .atLeastOnce, retain: retain)
            let rejection = try #require(try await nextRejections(rejections, count: 1, reading: [stream]).first)
            #expect(rejection.topic == topic)
            return rejection
        }

        /// A genuine message still gets through, and it is the next one delivered (nothing rejected was).
        func expectGenuineStillDelivered(_ text: String) async throws {
            try await publisher.publish(to: "t/after", payload: bytes(text), qos: .atLeastOnce)
            let next = try await collect(stream, count: 1)
            #expect(next.map(\.payloadString) == [text])
            #expect(next.map(\.topic) == ["t/after"])
        }

        func close() async {
            await publisher.disconnect()
            await subscriber.disconnect()
            await attacker.disconnect()
            broker.stopNow()
        }
    }

    @Test func tamperedCiphertextAndSignatureAreRejected() async throws {
        let scene = try await Scene.make()
        // Encrypt + sign (the scene's keyring has a signing identity): header 17, nonce 8, ciphertext, tag 16,
        // signature 64. A flipped ciphertext bit fails the AEAD (checked first), a flipped signature bit the
        // signature.
        let expectedLength: Int = 17 + 8 + 9 + 16 + 64  // "genuine 1" is 9 bytes
        #expect(scene.captured.count == expectedLength)
        var tampered = scene.captured
        tampered[17 + 8 + 2] ^= 0x01
        let first = try await scene.inject(tampered)
        #expect(first.reason == SealedRejection.Reason(.authenticationFailed))
        #expect(first.senderID == nil)
        var badSignature = scene.captured
        badSignature[badSignature.count - 10] ^= 0x80
        let second = try await scene.inject(badSignature)
        #expect(second.reason == SealedRejection.Reason(.badSignature))
        try await scene.expectGenuineStillDelivered("genuine 2")
        let statistics = await scene.subscriber.statistics
        let expected: [SealedRejection.Reason: Int] = [
            SealedRejection.Reason(.authenticationFailed): 1, SealedRejection.Reason(.badSignature): 1,
        ]
        #expect(statistics.rejections == expected)
        #expect(statistics.duplicates == 0)
        try await eventually(5, "delivered") { await scene.subscriber.statistics.delivered == 2 }
        await scene.close()
    }

    @Test func replayedEnvelopeIsDroppedAsDuplicate() async throws {
        let scene = try await Scene.make()
        let rejection = try await scene.inject(scene.captured)
        #expect(rejection.reason == .replayed)
        #expect(rejection.reason.isDuplicate)
        try await scene.expectGenuineStillDelivered("genuine 2")
        let statistics = await scene.subscriber.statistics
        #expect(statistics.duplicates == 1)
        #expect(statistics.count(.replayed) == 1)
        #expect(statistics.rejected == 0)
        await scene.close()
    }

    @Test func envelopeMovedToAnotherTopicIsRejected() async throws {
        let scene = try await Scene.make()
        let rejection = try await scene.inject(scene.captured, topic: "t/b")
        #expect(rejection.reason == SealedRejection.Reason(.authenticationFailed))
        try await scene.expectGenuineStillDelivered("genuine 2")
        #expect(await scene.subscriber.statistics.rejections == [SealedRejection.Reason(.authenticationFailed): 1])
        await scene.close()
    }

    @Test func retainedRepublicationOfALiveEnvelopeIsRejected() async throws {
        // The broker would hand a retained copy to every new subscriber; a message sealed for a live publish
        // cannot be passed off as retained state.
        let scene = try await Scene.make()
        try await scene.attacker.publish(
            to: "t/a", payload: ByteBuffer(bytes: scene.captured), qos: .atLeastOnce, retain: true)
        // Live copy to the t/# subscription: a duplicate. Retained copy on subscribe (delivered to both
        // subscriptions of the client, whose filters match): not sealed for retain, so malformed.
        let second = try await scene.subscriber.subscribe(to: "t/a", qos: .atLeastOnce)
        let rejections = try await nextRejections(scene.rejections, count: 3, reading: [scene.stream, second])
        #expect(rejections.map(\.reason.description).sorted() == ["malformed", "malformed", "replayed"])
        let retained = rejections.filter { $0.retain }
        #expect(Set(retained.map(\.subscription)) == ["t/#", "t/a"])
        #expect(retained.allSatisfy { $0.reason == SealedRejection.Reason(.malformed) })
        try await scene.expectGenuineStillDelivered("genuine 2")
        let statistics = await scene.subscriber.statistics
        #expect(statistics.rejections == [SealedRejection.Reason(.malformed): 2])
        #expect(statistics.duplicates == 1)
        await scene.close()
    }

    @Test func signerNotAllowedByPolicyAndUntrustedSignerAreRejected() async throws {
        var allowed: UInt32 = 0
        var other: UInt32 = 0
        let scene = try await Scene.make(
            policy: try SealedPolicy(),
            setup: { keyring throws(KeyringError) in
                try addPrimary(&keyring)
                allowed = try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["t/#"]))
                other = try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["t/evil/#"]))
            })
        let subscriber = try await scene.broker.sealedClient(
            "strict-sub", keys: try scene.keys.watcher(),
            policy: try SealedPolicy(rules: ["t/#": .signed(by: [allowed])]))
        let stream = try await subscriber.subscribe(to: "t/#", qos: .atLeastOnce)
        let rejections = await subscriber.rejections()

        // The keyring trusts `other` on t/evil/#, but the policy of t/# only allows `allowed`.
        try await scene.publisher.publish(to: "t/evil/1", payload: bytes("from other"), qos: .atLeastOnce)
        let first = try #require(try await nextRejections(rejections, count: 1, reading: [stream]).first)
        #expect(first.reason == .signerNotAllowed)
        #expect(first.senderID == other)

        // A group member with the symmetric key but its own, untrusted signing key.
        let key = try #require(try scene.keys.snapshot().primaryKey(for: "t/x").sealKey)
        let forger = try Sealer(key: key, signingKey: try SigningKey.generate())
        try await scene.attacker.publish(
            to: "t/x", payload: ByteBuffer(bytes: try forger.seal(bytes("forged"), topic: "t/x")), qos: .atLeastOnce)
        let second = try #require(try await nextRejections(rejections, count: 1, reading: [stream]).first)
        #expect(second.reason == SealedRejection.Reason(.untrustedSigner))

        try await scene.publisher.publish(to: "t/ok", payload: bytes("from allowed"), qos: .atLeastOnce)
        let delivered = try await collect(stream, count: 1)
        #expect(delivered.map(\.payloadString) == ["from allowed"])
        #expect(delivered.map(\.signer) == [allowed])
        let statistics = await subscriber.statistics
        #expect(
            statistics.rejections == [.signerNotAllowed: 1, SealedRejection.Reason(.untrustedSigner): 1])
        await subscriber.disconnect()
        await scene.close()
    }

    @Test func keyUsedOutsideItsTopicFilterIsRejected() async throws {
        var zoneA: UInt32 = 0
        let scene = try await Scene.make(setup: { keyring throws(KeyringError) in
            zoneA = try addPrimary(&keyring, scope: ["t/a", "t/after", "t/zone-a/#"])
            try addPrimary(&keyring, scope: ["t/zone-b/#"])
        })
        // An insider holding zone A's key seals for a zone B topic.
        let key = try #require(try scene.keys.snapshot().keyring.key(zoneA)?.sealKey)
        let insider = try Sealer(key: key)
        let rejection = try await scene.inject(
            try insider.seal(bytes("cross-zone"), topic: "t/zone-b/1"), topic: "t/zone-b/1")
        #expect(rejection.reason == SealedRejection.Reason(.unknownKey))
        // The sealed client itself refuses to seal where no primary key's filter matches.
        await #expect(throws: SealedMQTTError.self) {
            try await scene.publisher.publish(to: "t/zone-c/1", payload: bytes("nowhere"), qos: .atLeastOnce)
        }
        do {
            _ = try scene.publisher.seal(bytes("nowhere"), for: "t/zone-c/1")
            Issue.record("sealing without a primary key succeeded")
        } catch {
            #expect(error.code == .sealingFailed)
            #expect(error.keyringError?.code == .noPrimary)
        }
        try await scene.expectGenuineStillDelivered("genuine 2")
        #expect(await scene.subscriber.statistics.rejections == [SealedRejection.Reason(.unknownKey): 1])
        await scene.close()
    }

    @Test func plaintextIsRejectedUnlessTheTopicOptedIn() async throws {
        let policy = try SealedPolicy(rules: ["t/clear/#": .plaintext])
        let scene = try await Scene.make(policy: policy)
        let rejection = try await scene.inject(bytes("hello in clear"), topic: "t/sealed")
        #expect(rejection.reason == SealedRejection.Reason(.malformed))

        try await scene.attacker.publish(to: "t/clear/1", payload: ByteBuffer(string: "clear data"), qos: .atLeastOnce)
        try await scene.publisher.publish(to: "t/clear/2", payload: bytes("sealed on a clear topic"), qos: .atLeastOnce)
        try await scene.publisher.publishPlaintext(
            to: "t/clear/3", payload: bytes("clear by policy"), qos: .atLeastOnce)
        // Different topics may be verified on different workers: compare in topic order.
        let messages = try await collect(scene.stream, count: 3).sorted { $0.topic < $1.topic }
        #expect(messages.map(\.topic) == ["t/clear/1", "t/clear/2", "t/clear/3"])
        #expect(messages.map(\.payloadString) == ["clear data", "sealed on a clear topic", "clear by policy"])
        #expect(messages.map(\.isPlaintext) == [true, false, true])
        #expect(messages[1].keyID != nil)

        do {
            try await scene.publisher.publishPlaintext(to: "t/sealed", payload: bytes("leak"), qos: .atLeastOnce)
            Issue.record("plaintext publish on a sealed topic succeeded")
        } catch {
            #expect(error.code == .policyViolation)
        }
        try await eventually(5, "counters") { await scene.subscriber.statistics.plaintext == 2 }
        let statistics = await scene.subscriber.statistics
        #expect(statistics.rejections == [SealedRejection.Reason(.malformed): 1])
        #expect(statistics.delivered == 2)  // genuine 1 and the sealed message on the clear topic
        await scene.close()
    }

    @Test func signatureRequiredPolicyRejectsUnsignedAndDisallowedSuites() async throws {
        let subscriberPolicy = try SealedPolicy(rules: [
            "t/signed/#": .signed(),
            "t/aes-only/#": SealedTopicPolicy(allowedSuites: [.aes256gcm]),
        ])
        let publisherPolicy = try SealedPolicy(default: SealedTopicPolicy(signing: .never))
        let scene = try await Scene.make(policy: subscriberPolicy, publisherPolicy: publisherPolicy)

        try await scene.publisher.publish(to: "t/signed/1", payload: bytes("unsigned"), qos: .atLeastOnce)
        let unsigned = try #require(try await nextRejections(scene.rejections, count: 1, reading: [scene.stream]).first)
        #expect(unsigned.reason == .signatureRequired)

        try await scene.publisher.publish(to: "t/aes-only/1", payload: bytes("xchacha"), qos: .atLeastOnce)
        let suite = try #require(try await nextRejections(scene.rejections, count: 1, reading: [scene.stream]).first)
        #expect(suite.reason == .suiteNotAllowed)

        // The subscriber's own publishes follow its policy: signed where signatures are required.
        try await scene.subscriber.publish(to: "t/signed/2", payload: bytes("signed"), qos: .atLeastOnce)
        let signed = try await collect(scene.stream, count: 1)
        #expect(signed.map(\.payloadString) == ["signed"])
        #expect(signed[0].signer != nil)
        // ... and refuse to seal with a suite the topic does not allow.
        do {
            _ = try scene.subscriber.seal(bytes("x"), for: "t/aes-only/2")
            Issue.record("sealed with a disallowed suite")
        } catch {
            #expect(error.code == .policyViolation)
        }
        let statistics = await scene.subscriber.statistics
        #expect(statistics.rejections == [.signatureRequired: 1, .suiteNotAllowed: 1])
        await scene.close()
    }

    @Test func contradictoryPoliciesAreRefused() throws {
        #expect(throws: SealedMQTTError.self) {
            try SealedPolicy(rules: ["a/#": SealedTopicPolicy(requiresSignature: true, allowsPlaintext: true)])
        }
        #expect(throws: SealedMQTTError.self) {
            try SealedPolicy(rules: ["a/#": SealedTopicPolicy(requiresSignature: true, signing: .never)])
        }
        #expect(throws: SealedMQTTError.self) { try SealedPolicy(rules: ["a/#/b": .default]) }
        #expect(throws: SealedMQTTError.self) { try SealedPolicy(rules: ["$share/g/a": .default]) }
        #expect(throws: SealedMQTTError.self) { try SealedPolicy(rules: ["a": SealedTopicPolicy(allowedSigners: [])]) }
        do {
            _ = try SealedPolicy(rules: ["a/#": SealedTopicPolicy(allowedSigners: [1], allowsPlaintext: true)])
            Issue.record("plaintext with a signer list was accepted")
        } catch {
            #expect(error.code == .invalidPolicy)
        }
    }

    @Test func mostSpecificPolicyFilterWins() throws {
        let policy = try SealedPolicy(
            default: .default,
            rules: [
                "sensors/#": .plaintext,
                "sensors/+/temp": .signed(),
                "sensors/kitchen/temp": SealedTopicPolicy(allowedSuites: [.aes256gcm]),
                "#": SealedTopicPolicy(signing: .never),
            ])
        #expect(policy.policy(for: "sensors/kitchen/temp").allowedSuites == [.aes256gcm])
        #expect(policy.policy(for: "sensors/hall/temp").requiresSignature)
        #expect(policy.policy(for: "sensors/hall/humidity").allowsPlaintext)
        #expect(policy.policy(for: "sensors").allowsPlaintext)
        #expect(policy.policy(for: "other").signing == .never)
        #expect(policy.rule(for: "$SYS/x") == nil)
        #expect(policy.policy(for: "$SYS/x") == .default)
    }
}

/// Log lines captured by ``CapturingLogHandler``.
final class LogLines: Sendable {
    private let lines = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])

    func append(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata) {
        lines.withLock { $0.append((level, message, metadata)) }
    }

    var all: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] { lines.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append(event.level, event.message.description, metadata.merging(event.metadata ?? [:]) { $1 })
    }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct SealedRejectionLoggingTests {
    @Test func rejectionsAreLoggedWithRateLimitingAndAllCounted() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let lines = LogLines()
        let subscriber = try await broker.sealedClient("log-sub", keys: try keys.watcher()) {
            $0.logger = Logger(label: "test.sealed") { _ in CapturingLogHandler(lines: lines) }
            $0.rejectionLogInterval = .seconds(3600)  // one line per reason for the whole test
        }
        let publisher = try await broker.sealedClient("log-pub", keys: try keys.watcher())
        let attacker = try await broker.rawClient("log-attacker")
        let stream = try await subscriber.subscribe(to: "log/#", qos: .atLeastOnce)
        let rejections = await subscriber.rejections()
        let count = 50
        let envelope = try publisher.seal(bytes("genuine"), for: "log/a")
        for index in 0..<count {
            var tampered = envelope
            tampered[17 + 8 + index % 7] ^= 0x04
            try await attacker.publish(to: "log/a", payload: ByteBuffer(bytes: tampered), qos: .atLeastOnce)
            try await attacker.publish(to: "log/b", payload: ByteBuffer(string: "clear \(index)"), qos: .atLeastOnce)
        }
        let reported = try await nextRejections(rejections, count: 2 * count, reading: [stream])
        #expect(reported.filter { $0.reason == SealedRejection.Reason(.authenticationFailed) }.count == count)
        #expect(reported.filter { $0.reason == SealedRejection.Reason(.malformed) }.count == count)
        try await attacker.publish(to: "log/a", payload: ByteBuffer(bytes: envelope), qos: .atLeastOnce)
        #expect(try await collect(stream, count: 1).map(\.payloadString) == ["genuine"])

        let statistics = await subscriber.statistics
        #expect(statistics.count(SealedRejection.Reason(.authenticationFailed)) == count)
        #expect(statistics.count(SealedRejection.Reason(.malformed)) == count)
        #expect(statistics.rejected == 2 * count)
        let warnings = lines.all.filter { $0.level == .warning }
        #expect(warnings.count == 2)
        #expect(
            Set(warnings.map { $0.metadata["reason"]?.description ?? "" }) == ["authenticationFailed", "malformed"])
        #expect(warnings.allSatisfy { $0.message == "message rejected" && $0.metadata["suppressed"] == nil })
        // Nothing of the payload is logged.
        #expect(!lines.all.contains { "\($0.metadata)".contains("clear ") })
        await publisher.disconnect()
        await subscriber.disconnect()
        await attacker.disconnect()
    }

    @Test func aSlowConsumerPushesBackWithoutLosingMessages() async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 10_000))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let subscriber = try await broker.sealedClient(
            "bp-sub", keys: try keys.watcher(),
            configure: {
                $0.workerCount = 2
                $0.maxInFlightPerSubscription = 4
            },
            mqtt: { $0.subscriptionBufferCapacity = 8 })
        let publisher = try await broker.sealedClient("bp-pub", keys: try keys.watcher())
        let stream = try await subscriber.subscribe(to: "bp/#", qos: .atLeastOnce)
        let total = 1_000
        // Publish everything before anyone consumes: the buffers fill and the pipeline waits instead of dropping.
        for index in 0..<total {
            try await publisher.publish(to: "bp/\(index % 3)", payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        let received = try await collect(stream, count: total, seconds: 30)
        #expect(Set(received.map(index(of:))) == Set(0..<total))
        for topic in 0..<3 {
            let indices = received.filter { $0.topic == "bp/\(topic)" }.map(index(of:))
            #expect(indices == Array(stride(from: topic, to: total, by: 3)))
        }
        let statistics = await subscriber.statistics
        #expect(statistics.rejected == 0 && statistics.duplicates == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct SealedContextAndLifecycleTests {
    @Test func applicationContextIsBoundIntoEveryEnvelope() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            try addPrimary(&keyring)
            try keyring.newSigningIdentity()
        }
        let publisher = try await broker.sealedClient("ctx-pub", keys: try keys.watcher()) {
            $0.context = bytes("fleet-a/v1")
        }
        let sameContext = try await broker.sealedClient("ctx-same", keys: try keys.watcher()) {
            $0.context = bytes("fleet-a/v1")
        }
        let otherContext = try await broker.sealedClient("ctx-other", keys: try keys.watcher()) {
            $0.context = bytes("fleet-b/v1")
        }
        let noContext = try await broker.sealedClient("ctx-none", keys: try keys.watcher())
        let accepted = try await sameContext.subscribe(to: "ctx/#", qos: .atLeastOnce)
        let otherStream = try await otherContext.subscribe(to: "ctx/#", qos: .atLeastOnce)
        let noneStream = try await noContext.subscribe(to: "ctx/#", qos: .atLeastOnce)
        let otherRejections = await otherContext.rejections()
        let noneRejections = await noContext.rejections()
        try await publisher.publish(to: "ctx/a", payload: ByteBuffer(string: "bound"), qos: .atLeastOnce)
        #expect(try await collect(accepted, count: 1).map(\.payloadString) == ["bound"])
        // Encrypt + sign: the AEAD (checked before the signature) fails under another context.
        let other = try await nextRejections(otherRejections, count: 1, reading: [otherStream])
        #expect(other.map(\.reason) == [SealedRejection.Reason(.authenticationFailed)])
        let none = try await nextRejections(noneRejections, count: 1, reading: [noneStream])
        #expect(none.map(\.reason) == [SealedRejection.Reason(.authenticationFailed)])
        for client in [publisher, sameContext, otherContext, noContext] { await client.disconnect() }
    }

    @Test func unsubscribeEndsTheStreamAfterWhatWasReceived() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let client = try await broker.sealedClient("unsub", keys: try keys.watcher())
        let stream = try await client.subscribe(to: "unsub/#", qos: .atLeastOnce)
        for index in 0..<20 {
            try await client.publish(to: "unsub/\(index % 2)", payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        // Received, not yet read: the stream judges messages as its consumer reads them.
        try await eventually(5, "all received") { stream.buffered == 20 }
        #expect(await client.statistics.delivered == 0)
        try await client.unsubscribe("unsub/#")
        let all = try await withTimeout(5, "stream ends") { () throws -> [SealedMessage] in
            var all: [SealedMessage] = []
            for try await message in stream { all.append(message) }
            return all
        }
        #expect(Set(all.map(index(of:))) == Set(0..<20))
        await client.disconnect()
        do {
            _ = try await client.subscribe(to: "unsub/#", qos: .atLeastOnce)
            Issue.record("subscribe after disconnect succeeded")
        } catch {
            #expect(error.code == .shutDown || error.code == .transport)
        }
    }
}

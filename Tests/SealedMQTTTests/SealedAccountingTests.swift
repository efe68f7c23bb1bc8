import LocalBroker
import MQTT
import NIOCore
import Seal
import SealKeyring
import Testing

@testable import SealedMQTT

/// How copies are counted once the replay window has moved past them (a broker restart resends its whole queue).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SealedAccountingTests {
    /// 40 messages pass a replay window of 4; then copies of the first 10 arrive (as from a restarted broker) and
    /// one genuine envelope that was sealed before them but never delivered. The copies are duplicates; only the
    /// late, never-delivered envelope is an `outsideWindow` rejection. Nothing is delivered twice.
    @Test func copiesOlderThanTheReplayWindowCountAsDuplicates() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let subscriber = try await broker.sealedClient(
            "accounting-sub", keys: try keys.watcher(),
            configure: { $0.replayPolicy = ReplayPolicy(window: 4) })
        let stream = try await subscriber.subscribe(to: "accounting/#", qos: .atLeastOnce)
        let wire = try await broker.rawClient("accounting-wire")
        let captured = try await wire.subscribe(to: "accounting/#", qos: .atLeastOnce)
        let publisher = try await broker.sealedClient("accounting-pub", keys: try keys.watcher())

        let neverDelivered = try publisher.seal(bytes("late"), for: "accounting/t")
        let total = 40
        for index in 0..<total {
            try await publisher.publish(to: "accounting/t", payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        let delivered = try await collect(stream, count: total, seconds: 20)
        #expect(delivered.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<total).map { "m \($0)" })
        let envelopes = try await collectRaw(captured, count: total, seconds: 20)

        for envelope in envelopes.prefix(10) {
            try await wire.publish(to: envelope.topic, payload: envelope.payload, qos: .atLeastOnce)
        }
        try await wire.publish(to: "accounting/t", payload: ByteBuffer(bytes: neverDelivered), qos: .atLeastOnce)
        let (_, redelivered) = try await whileReading([stream]) {
            try await eventually(20, "11 more messages counted") {
                await subscriber.statistics.received == total + 11
            }
        }
        #expect(redelivered.isEmpty)
        let statistics = await subscriber.statistics
        #expect(statistics.delivered == total)
        #expect(statistics.duplicates == 10)
        #expect(statistics.count(SealedRejection.Reason(.outsideWindow)) == 1)
        #expect(statistics.rejected == 1)
        await publisher.disconnect()
        await wire.disconnect()
        await subscriber.disconnect()
    }
}

/// A sealed subscriber that resumes its broker session in a new process gets the whole backlog, opened.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SealedResumedSessionTests {
    @Test func resumedSessionBacklogIsOpenedAndDelivered() async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 0))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            try addPrimary(&keyring)
            try keyring.newSigningIdentity()
        }
        func persistent(_ configuration: inout MQTTClientConfiguration) {
            configuration.cleanStart = false
            configuration.sessionExpiryInterval = .seconds(3600)
        }
        let first = try await broker.sealedClient("resume-sub", keys: try keys.watcher(), mqtt: persistent)
        // Kept until the disconnect: a dropped stream ends its subscription.
        let kept = try await first.subscribe(to: "resume/#", qos: .atLeastOnce)
        await first.disconnect()
        withExtendedLifetime(kept) {}

        let total = 500
        let publisher = try await broker.sealedClient("resume-pub", keys: try keys.watcher())
        for index in 0..<total {
            try await publisher.publish(to: "resume/\(index % 5)", payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        await publisher.disconnect()

        // The new process connects (the backlog flows at once) and only later subscribes.
        let resumed = try await broker.sealedClient("resume-sub", keys: try keys.watcher(), mqtt: persistent)
        try await Task.sleep(for: .milliseconds(500))
        let stream = try await resumed.subscribe(to: "resume/#", qos: .atLeastOnce)
        let messages = try await collect(stream, count: total, seconds: 30)
        #expect(Set(messages.map { String(decoding: $0.payload, as: UTF8.self) }) == Set((0..<total).map { "m \($0)" }))
        let statistics = await resumed.statistics
        #expect(statistics.rejected == 0)
        await resumed.disconnect()
    }
}

import LocalBroker
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization
import Testing

/// A key source that counts the reloads the sealed client asks for.
final class CountingKeys: SealingKeySource {
    let base: KeyringWatcher
    let refreshes = Mutex(0)

    init(_ base: KeyringWatcher) { self.base = base }

    func key(id: UInt32, topic: String) -> SealKey? { base.key(id: id, topic: topic) }
    func signer(id: UInt32, topic: String) -> VerifyingKey? { base.signer(id: id, topic: topic) }
    func sealer(for topic: String, signing: PublishSigning) throws(KeyringError) -> Sealer {
        try base.sealer(for: topic, signing: signing)
    }
    func signOnlySealer(for topic: String) throws(KeyringError) -> Sealer { try base.signOnlySealer(for: topic) }
    func refreshKeys() -> Bool {
        refreshes.withLock { $0 += 1 }
        return base.refreshKeys()
    }
}

/// A flood of envelopes naming unknown key ids triggers at most one keyring reload per interval.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct KeyRefreshGateTests {
    @Test func aFloodOfUnknownKeyIDsCostsOneReloadPerInterval() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let gated = CountingKeys(try keys.watcher())
        let ungated = CountingKeys(try keys.watcher())
        let subscriber = try await broker.sealedClient("gate-sub", keys: gated) {
            $0.keyRefreshInterval = .seconds(3600)
        }
        let everyTime = try await broker.sealedClient("gate-every", keys: ungated) { $0.keyRefreshInterval = .zero }
        let stream = try await subscriber.subscribe(to: "flood/#", qos: .atLeastOnce)
        let everyStream = try await everyTime.subscribe(to: "flood/#", qos: .atLeastOnce)
        let publisher = try await broker.sealedClient("gate-pub", keys: try keys.watcher())
        let attacker = try await broker.rawClient("gate-attacker")
        // Envelopes sealed with a key nobody has: each names an unknown kid.
        let forger = try Sealer(key: try SealKey.generate())
        let flood = 50
        for index in 0..<flood {
            let envelope = try forger.seal(bytes("forged \(index)"), topic: "flood/a")
            try await attacker.publish(to: "flood/a", payload: ByteBuffer(bytes: envelope), qos: .atLeastOnce)
        }
        // One genuine message after the flood, on the same topic (order is kept per topic): once it is delivered,
        // every forged one was judged.
        try await publisher.publish(to: "flood/a", payload: bytes("genuine"), qos: .atLeastOnce)
        #expect(try await collect(stream, count: 1).map(\.payloadString) == ["genuine"])
        #expect(try await collect(everyStream, count: 1).map(\.payloadString) == ["genuine"])

        #expect(gated.refreshes.withLock { $0 } == 1)
        #expect(ungated.refreshes.withLock { $0 } == flood)
        for client in [subscriber, everyTime] {
            #expect(await client.statistics.rejections == [SealedRejection.Reason(.unknownKey): flood])
        }
        await attacker.disconnect()
        for client in [publisher, subscriber, everyTime] { await client.disconnect() }
    }
}

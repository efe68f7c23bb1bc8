import LocalBroker
import Logging
import MQTT
import NIOCore
import Seal
import SealKeyring
import ServiceLifecycle
import Testing

@testable import SealedMQTT

/// Runs a keyring watcher's polling loop until the returned task is cancelled.
func polling(_ watcher: KeyringWatcher) -> Task<Void, Never> {
    Task { await watcher.run() }
}

func index(of message: SealedMessage) -> Int { Int(message.payloadString.split(separator: " ").last ?? "") ?? -1 }

@Suite(.serialized, .timeLimit(.minutes(5)))
struct SealedDeliveryTests {
    /// How the operator rotates during the load test.
    enum Runbook: String, Sendable, CaseIterable, CustomTestStringConvertible {
        /// `keys add` (pending), every receiver reloads, `keys promote`: each 200 ms step promotes the key added by
        /// the previous step (after checking the subscriber loaded it) and adds the next one.
        case addThenPromote
        /// `keys rotate` (add + promote in one write of the shared file) every 200 ms. The subscriber polls slowly
        /// (500 ms), so the publisher regularly seals with a key the subscriber has not loaded yet; the sealed
        /// client reloads on the unknown kid and opens the message.
        case oneStepRotate

        var testDescription: String { rawValue }
    }

    @Test(arguments: Runbook.allCases)
    func rotationEvery200msDuringA20000MessageQoS1StreamLosesAndRejectsNothing(_ runbook: Runbook) async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 100_000))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let publisherKeys = try keys.watcher(poll: .milliseconds(20))
        let subscriberKeys = try keys.watcher(poll: .milliseconds(runbook == .oneStepRotate ? 500 : 20))
        let pollers = [polling(publisherKeys), polling(subscriberKeys)]
        defer { for poller in pollers { poller.cancel() } }
        let publisher = try await broker.sealedClient("load-pub", keys: publisherKeys)
        let subscriber = try await broker.sealedClient("load-sub", keys: subscriberKeys)
        let stream = try await subscriber.subscribe(to: "load/#", qos: .atLeastOnce)
        let total = 20_000

        let receiving = Task { () throws -> (indices: [Int], kids: Set<UInt32>) in
            var indices: [Int] = []
            indices.reserveCapacity(total)
            var kids: Set<UInt32> = []
            for try await message in stream {
                indices.append(index(of: message))
                if let kid = message.keyID { kids.insert(kid) }
                if indices.count == total { break }
            }
            return (indices, kids)
        }

        // The operator's runbook every 200 ms, as `mqtt-seal keys add` / `keys promote` would do it: promote the
        // key added in the previous step (every receiver has loaded it by now: checked, not assumed), add the next
        // pending key.
        let promotions = Counter()
        let rotating = Task { () throws in
            var pending: UInt32?
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(200))
                if runbook == .oneStepRotate {
                    try keys.update { keyring throws(KeyringError) in try keyring.rotate() }
                    await promotions.increment()
                    continue
                }
                if let waiting = pending {
                    try await eventually(10, "subscriber loaded pending key") {
                        subscriberKeys.current.keyring.key(waiting)?.state == .pending
                    }
                }
                let promote = pending
                pending = try keys.update { keyring throws(KeyringError) -> UInt32 in
                    if let promote { try keyring.promote(promote) }
                    return try keyring.addKey()
                }
                if promote != nil { await promotions.increment() }
            }
        }

        for index in 0..<total {
            try await publisher.publish(to: "load/stream", payload: bytes("message \(index)"), qos: .atLeastOnce)
        }
        let received = try await value(of: receiving, within: 120, "20,000 messages")
        rotating.cancel()
        _ = try? await rotating.value

        #expect(received.indices.count == total)
        #expect(received.indices == Array(0..<total))  // one topic: order kept, nothing lost or repeated
        #expect(received.kids.count >= 2)  // the stream really crossed at least one rotation
        #expect(await promotions.value >= 1)
        try await eventually(10, "counters") { await subscriber.statistics.delivered == total }
        let statistics = await subscriber.statistics
        #expect(statistics.rejected == 0)
        #expect(statistics.rejections.isEmpty)
        #expect(statistics.duplicates == 0)
        #expect(statistics.delivered == total)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// QoS 1 across a broker restart: the broker and the publisher resend what was not acknowledged, so copies of
    /// delivered messages arrive again. The replay guard drops them (counted as duplicates): the application sees
    /// every message exactly once.
    @Test func qos1RedeliveryAcrossABrokerRestartIsDeliveredExactlyOnce() async throws {
        let broker = try await LocalBroker.start(
            .init(persistence: true, autosaveInterval: 1, maxQueuedMessages: 0))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            try addPrimary(&keyring)
            try keyring.newSigningIdentity()
        }
        func resuming(_ configuration: inout MQTTClientConfiguration) {
            configuration.sessionExpiryInterval = .seconds(3600)
            configuration.cleanStart = false  // mosquitto 2.0.11 persists MQTT 5 sessions only without Clean Start
            configuration.reconnect = MQTTReconnectPolicy(
                initialDelay: .milliseconds(50), maximumDelay: .milliseconds(500), maximumAttempts: 100)
        }
        // After a restart the broker resends its whole persisted queue, which can reach further back than the
        // default replay window (256 per sender). Such a copy is dropped; the delivered history counts it as a
        // duplicate, not as an `outsideWindow` rejection, so the default window needs no resizing.
        let subscriber = try await broker.sealedClient("redeliver-sub", keys: try keys.watcher(), mqtt: resuming)
        let publisher = try await broker.sealedClient("redeliver-pub", keys: try keys.watcher(), mqtt: resuming)
        let stream = try await subscriber.subscribe(to: "redeliver/#", qos: .atLeastOnce)
        let total = 3_000
        let tally = SharedTally()
        let consumer = Task {
            for try await message in stream {
                await tally.add(member: 0, index: index(of: message))
                if await tally.count == total { break }
            }
        }
        let producer = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<total {
                    if index >= 100 { try await group.next() }
                    group.addTask {
                        try await publisher.publish(
                            to: "redeliver/\(index % 4)", payload: bytes("m \(index)"), qos: .atLeastOnce)
                    }
                }
                try await group.waitForAll()
            }
        }
        try await eventually(30, "a third of the stream") { await tally.count >= total / 3 }
        try await broker.restart()
        try await value(of: producer, within: 60, "producer")
        try await value(of: consumer, within: 60, "consumer")
        try await Task.sleep(for: .milliseconds(300))  // late copies would arrive now
        let indices = await tally.perMember[0]
        #expect(indices.count == total)
        #expect(Set(indices) == Set(0..<total))
        let statistics = await subscriber.statistics
        #expect(statistics.delivered == total)
        #expect(statistics.rejected == 0)
        #expect(statistics.received == total + statistics.duplicates)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A subscriber whose keyring is not polled at all still opens a message sealed with a key rotated in a moment
    /// ago: the unknown kid makes it reload the file. With the reload disabled the message is rejected.
    @Test func unknownKidTriggersAKeyringReloadBeforeRejecting() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let publisherKeys = try keys.watcher()
        let publisher = try await broker.sealedClient("reload-pub", keys: publisherKeys)
        let subscriber = try await broker.sealedClient("reload-sub", keys: try keys.watcher())
        let strict = try await broker.sealedClient("reload-strict", keys: try keys.watcher()) {
            $0.refreshesKeysOnUnknownID = false
        }
        let stream = try await subscriber.subscribe(to: "reload/#", qos: .atLeastOnce)
        let strictStream = try await strict.subscribe(to: "reload/#", qos: .atLeastOnce)
        let strictRejections = await strict.rejections()
        try await publisher.publish(to: "reload/a", payload: bytes("old key"), qos: .atLeastOnce)
        #expect(try await collect(stream, count: 1).map(\.payloadString) == ["old key"])
        #expect(try await collect(strictStream, count: 1).map(\.payloadString) == ["old key"])

        let rotated = try keys.update { keyring throws(KeyringError) in try keyring.rotate() }
        #expect(publisherKeys.refreshKeys())
        try await publisher.publish(to: "reload/a", payload: bytes("new key"), qos: .atLeastOnce)
        let opened = try await collect(stream, count: 1)
        #expect(opened.map(\.payloadString) == ["new key"])
        #expect(opened.map(\.keyID) == [rotated])
        let rejection = try #require(
            try await nextRejections(strictRejections, count: 1, reading: [strictStream]).first)
        #expect(rejection.reason == SealedRejection.Reason(.unknownKey))
        #expect(await subscriber.statistics.rejected == 0)
        #expect(await strict.statistics.rejections == [SealedRejection.Reason(.unknownKey): 1])
        await publisher.disconnect()
        await subscriber.disconnect()
        await strict.disconnect()
    }

    @Test func subscriberAcceptsAPendingKeyPickedUpByHotReloadBeforePromotion() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        var first: UInt32 = 0
        let keys = try KeyringFixture { keyring throws(KeyringError) in first = try addPrimary(&keyring) }
        let publisherKeys = try keys.watcher(poll: .milliseconds(20))
        let subscriberKeys = try keys.watcher(poll: .milliseconds(20))
        let publisherPoller = polling(publisherKeys)
        defer { publisherPoller.cancel() }
        let subscriberPoller = polling(subscriberKeys)
        let publisher = try await broker.sealedClient("hot-pub", keys: publisherKeys)
        let subscriber = try await broker.sealedClient("hot-sub", keys: subscriberKeys)
        let stream = try await subscriber.subscribe(to: "hot/#", qos: .atLeastOnce)

        try await publisher.publish(to: "hot/t", payload: bytes("before 0"), qos: .atLeastOnce)
        #expect(try await collect(stream, count: 1).map(\.keyID) == [first])

        // 1. Add the new key as pending and let the subscriber reload it.
        let second = try keys.update { keyring throws(KeyringError) in try keyring.addKey() }
        try await eventually(5, "subscriber reload") {
            subscriberKeys.current.keyring.key(second)?.state == .pending
        }
        // 2. The subscriber stops watching: whatever it accepts next, it accepts with the pending key it has.
        subscriberPoller.cancel()
        _ = await subscriberPoller.value
        // 3. Promote; only the publisher reloads.
        try keys.update { keyring throws(KeyringError) in try keyring.promote(second) }
        try await eventually(5, "publisher reload") {
            publisherKeys.current.keyring.key(second)?.state == .primary
        }
        #expect(subscriberKeys.current.keyring.key(second)?.state == .pending)
        try await publisher.publish(to: "hot/t", payload: bytes("after 1"), qos: .atLeastOnce)
        let after = try await collect(stream, count: 1)
        #expect(after.map(\.payloadString) == ["after 1"])
        #expect(after.map(\.keyID) == [second])
        let statistics = await subscriber.statistics
        #expect(statistics.rejected == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func sealedMessagesCrossABridgeAndVerify() async throws {
        let remote = try await LocalBroker.start()
        defer { remote.stopNow() }
        let local = try await LocalBroker.start(
            .init(bridges: [.init(name: "sealed-bridge", remotePort: remote.plainPort, topics: ["bridged/# out 1"])]))
        defer { local.stopNow() }
        var sid: UInt32 = 0
        var kid: UInt32 = 0
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            kid = try addPrimary(&keyring, suite: .aes256gcm)
            sid = try keyring.newSigningIdentity()
        }
        let policy = try SealedPolicy(default: .signed(by: [sid]))
        let publisher = try await local.sealedClient("bridge-pub", keys: try keys.watcher(), policy: policy)
        let subscriber = try await remote.sealedClient("bridge-sub", keys: try keys.watcher(), policy: policy)
        let stream = try await subscriber.subscribe(to: "bridged/#", qos: .atLeastOnce)

        // Wait (bounded) until the bridge is up: sealed probes until one arrives on the remote broker.
        let probing = Task {
            var count = 0
            while !Task.isCancelled {
                try await publisher.publish(to: "bridged/probe", payload: bytes("probe \(count)"), qos: .atLeastOnce)
                count += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let probe = try await collect(stream, count: 1, seconds: 20)
        probing.cancel()
        _ = try? await probing.value
        #expect(probe.map(\.topic) == ["bridged/probe"])

        let count = 200
        for index in 0..<count {
            try await publisher.publish(to: "bridged/data", payload: bytes("data \(index)"), qos: .atLeastOnce)
        }
        let data = try await withTimeout(20, "bridged data") { () throws -> [SealedMessage] in
            var data: [SealedMessage] = []
            for try await message in stream where message.topic == "bridged/data" {
                data.append(message)
                if data.count == count { break }
            }
            return data
        }
        #expect(data.map(index(of:)) == Array(0..<count))
        #expect(data.allSatisfy { $0.signer == sid && $0.keyID == kid && $0.mode == .encryptAndSign })
        let statistics = await subscriber.statistics
        #expect(statistics.rejected == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func sharedSubscriptionSplitsTheStreamAndEachMessageIsVerifiedOnce() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        var sid: UInt32 = 0
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            try addPrimary(&keyring)
            sid = try keyring.newSigningIdentity()
        }
        let policy = try SealedPolicy(default: .signed(by: [sid]))
        let members = [
            try await broker.sealedClient("shared-a", keys: try keys.watcher(), policy: policy),
            try await broker.sealedClient("shared-b", keys: try keys.watcher(), policy: policy),
        ]
        var streams: [SealedMessageStream] = []
        for member in members { streams.append(try await member.subscribe(to: "$share/g/shared/#", qos: .atLeastOnce)) }
        let publisher = try await broker.sealedClient("shared-pub", keys: try keys.watcher(), policy: policy)
        let total = 400
        let box = SharedTally()
        let consumers = streams.enumerated().map { member, stream in
            Task {
                for try await message in stream { await box.add(member: member, index: index(of: message)) }
            }
        }
        for index in 0..<total {
            try await publisher.publish(to: "shared/t\(index % 4)", payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        try await eventually(20, "all shared messages") { await box.count == total }
        try await Task.sleep(for: .milliseconds(300))  // anything extra (a second copy) would arrive now
        for consumer in consumers { consumer.cancel() }
        let perMember = await box.perMember
        let all = perMember[0] + perMember[1]
        #expect(all.count == total)
        #expect(Set(all) == Set(0..<total))
        #expect(Set(perMember[0]).isDisjoint(with: perMember[1]))
        #expect(!perMember[0].isEmpty && !perMember[1].isEmpty)
        var delivered = 0
        for member in members {
            let statistics = await member.statistics
            #expect(statistics.rejected == 0 && statistics.duplicates == 0)
            delivered += statistics.delivered
        }
        #expect(delivered == total)
        for member in members { await member.disconnect() }
        await publisher.disconnect()
    }

    @Test func overlappingFiltersInOneSubscriptionDeliverEachMessageOnce() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let subscriber = try await broker.sealedClient("overlap-sub", keys: try keys.watcher())
        // Every message matches two or three of these filters.
        let stream = try await subscriber.subscribe(to: ["multi/#", "multi/a/+", "multi/+/b"], qos: .atLeastOnce)
        #expect(stream.topicFilters == ["multi/#", "multi/a/+", "multi/+/b"])
        do {
            _ = try await subscriber.subscribe(to: [String](), qos: .atLeastOnce)
            Issue.record("an empty filter list must be refused")
        } catch {
            #expect(error.code == .transport)
            #expect(error.mqttError?.code == .invalidArgument)
        }
        let publisher = try await broker.sealedClient("overlap-pub", keys: try keys.watcher())
        let total = 60
        let box = SharedTally()
        let consumer = Task { for try await message in stream { await box.add(member: 0, index: index(of: message)) } }
        for index in 0..<total {
            let topic = index % 2 == 0 ? "multi/a/b" : "multi/a/c"
            try await publisher.publish(to: topic, payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        try await eventually(20, "all messages") { await box.count == total }
        try await Task.sleep(for: .milliseconds(300))  // a second copy would arrive now
        consumer.cancel()
        let seen = await box.perMember[0]
        #expect(seen.count == total)
        #expect(Set(seen) == Set(0..<total))
        let statistics = await subscriber.statistics
        #expect(statistics.delivered == total)
        #expect(statistics.rejected == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func perTopicOrderIsKeptAcrossTheWorkerPool() async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 10_000))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            try addPrimary(&keyring)
            try keyring.newSigningIdentity()
        }
        let subscriber = try await broker.sealedClient("order-sub", keys: try keys.watcher()) {
            $0.workerCount = 4
        }
        let publisher = try await broker.sealedClient("order-pub", keys: try keys.watcher())
        let stream = try await subscriber.subscribe(to: "order/#", qos: .atLeastOnce)
        let topics = 8
        let total = 2_000
        // Publish everything before consuming: the worker queues fill up, so when the consumer starts, all four
        // workers verify (signed) messages at once and would overtake one another if a topic could be on two.
        for index in 0..<total {
            try await publisher.publish(
                to: "order/\(index % topics)", payload: bytes("m \(index)"), qos: .atLeastOnce)
        }
        let byTopic = try await withTimeout(60, "ordered messages") { () throws -> [String: [Int]] in
            var byTopic: [String: [Int]] = [:]
            var count = 0
            for try await message in stream {
                #expect(message.signer != nil)
                byTopic[message.topic, default: []].append(index(of: message))
                count += 1
                if count == total { break }
            }
            return byTopic
        }
        #expect(byTopic.count == topics)
        for topic in 0..<topics {
            #expect(byTopic["order/\(topic)"] == Array(stride(from: topic, to: total, by: topics)))
        }
        #expect(await subscriber.statistics.rejected == 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// One signed sender on eight topics, 8,000 messages queued up before the subscriber drains them on four
    /// workers: the workers run ahead of one another, but never by more than the in-flight limit (half the replay
    /// window, here 16 of 32), so no genuine message falls below the sender's replay window (`outsideWindow`).
    @Test func parallelVerificationOfOneSenderStaysWithinTheReplayWindow() async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 100_000))
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in
            try addPrimary(&keyring)
            try keyring.newSigningIdentity()
        }
        let policy = try SealedPolicy(default: .signed())
        let sealer = try await broker.sealedClient("window-sealer", keys: try keys.watcher(), policy: policy)
        let total = 8_000
        var envelopes: [(topic: String, bytes: [UInt8])] = []
        for index in 0..<total {
            let topic = "window/\(index % 8)"
            envelopes.append((topic, try sealer.seal(bytes("m \(index)"), for: topic)))
        }
        let subscriber = try await broker.sealedClient("window-sub", keys: try keys.watcher(), policy: policy) {
            $0.workerCount = 4
            $0.replayPolicy = ReplayPolicy(window: 32)  // a small window makes any excess reordering visible
        }
        let stream = try await subscriber.subscribe(to: "window/#", qos: .atLeastOnce)
        let publisher = try await broker.rawClient("window-pub")
        // In sealing order (the only reordering is then the pool's), all before the subscriber drains anything.
        for envelope in envelopes {
            try await publisher.publish(
                to: envelope.topic, payload: ByteBuffer(bytes: envelope.bytes), qos: .atLeastOnce)
        }
        let received = try await withTimeout(60, "draining") { () throws -> [SealedMessage] in
            var received: [SealedMessage] = []
            for try await message in stream {
                received.append(message)
                if received.count == total { break }
            }
            return received
        }
        #expect(Set(received.map(index(of:))) == Set(0..<total))
        let statistics = await subscriber.statistics
        #expect(statistics.rejections.isEmpty)
        #expect(statistics.delivered == total)
        await sealer.disconnect()
        await subscriber.disconnect()
        await publisher.disconnect()
    }

    @Test func runsAsAServiceAndStopsOnGracefulShutdown() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let keys = try KeyringFixture { keyring throws(KeyringError) in try addPrimary(&keyring) }
        let watcher = try keys.watcher()
        let sealed = try SealedMQTTClient(mqtt: broker.mqttConfiguration("service"), keys: watcher)
        let group = ServiceGroup(configuration: .init(services: [sealed], logger: Logger(label: "test.sealed-service")))
        let running = Task { try await group.run() }
        try await eventually(5, "connected") { await sealed.client.isConnected }
        let stream = try await sealed.subscribe(to: "svc/#", qos: .atLeastOnce)
        // run() polls the keyring: a rotation is picked up without calling checkNow().
        let rotated = try keys.update { keyring throws(KeyringError) in try keyring.rotate() }
        try await eventually(5, "hot reload") { watcher.current.keyring.key(rotated)?.state == .primary }
        try await sealed.publish(to: "svc/x", payload: bytes("up"), qos: .atLeastOnce)
        #expect(try await collect(stream, count: 1).map(\.keyID) == [rotated])
        await group.triggerGracefulShutdown()
        try await value(of: running, within: 10, "service group ends")
        #expect(await !sealed.client.isConnected)
        // The subscription ended with the client.
        let rest = try await withTimeout(5, "stream ends") { () throws -> Int in
            var count = 0
            for try await _ in stream { count += 1 }
            return count
        }
        #expect(rest == 0)
        do {
            try await sealed.publish(to: "svc/x", payload: bytes("down"), qos: .atLeastOnce)
            Issue.record("publish after shutdown succeeded")
        } catch {
            #expect(error.code == .shutDown || error.code == .transport)
        }
    }
}

actor Counter {
    var value = 0
    func increment() { value += 1 }
}

actor SharedTally {
    var perMember: [[Int]] = [[], []]
    var count: Int { perMember[0].count + perMember[1].count }
    func add(member: Int, index: Int) { perMember[member].append(index) }
}

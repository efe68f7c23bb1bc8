import Testing

@testable import Seal

@Suite("Replay guard, freshness, restarts and retained messages (injected clock)")
struct ReplayTests {
    let topic = "r/1"
    let encrypt = Configuration(suite: .xchacha20poly1305, mode: .encrypt)

    @Test("a message is accepted once; its replay is rejected", arguments: Configuration.all)
    func replay(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        let envelope = try harness.sealer.seal([1], topic: topic)
        #expect(try harness.opener.open(envelope, topic: topic).payload == [1])
        expectRejected(.replayed) { _ = try harness.opener.open(envelope, topic: topic) }
        harness.clock.advance(by: 1000)
        expectRejected(.replayed) { _ = try harness.opener.open(envelope, topic: topic) }
    }

    @Test("out-of-order delivery within the window is accepted, each message once")
    func reorder() throws {
        let harness = try Harness(encrypt, policy: ReplayPolicy(window: 8))
        var envelopes: [[UInt8]] = []
        for index in 0..<8 {
            envelopes.append(try harness.sealer.seal([UInt8(index)], topic: topic))
            if index % 3 == 0 { harness.clock.advance(by: 1) }
        }
        // Deliver in a shuffled order (QoS 1 redelivery and shared subscriptions reorder).
        let order = [3, 0, 7, 1, 6, 2, 5, 4]
        for index in order {
            #expect(try harness.opener.open(envelopes[index], topic: topic).payload == [UInt8(index)])
        }
        for index in order {
            expectRejected(.replayed) { _ = try harness.opener.open(envelopes[index], topic: topic) }
        }
    }

    @Test("a message older than the remembered window is rejected; newer ones still pass")
    func window() throws {
        let window = 4
        let harness = try Harness(encrypt, policy: ReplayPolicy(window: window))
        let late = try harness.sealer.seal([0], topic: topic)
        var later: [[UInt8]] = []
        for index in 1...(2 * window) { later.append(try harness.sealer.seal([UInt8(index)], topic: topic)) }
        for envelope in later { _ = try harness.opener.open(envelope, topic: topic) }
        // 2 * window newer messages were accepted: the floor moved above `late`.
        expectRejected(.outsideWindow) { _ = try harness.opener.open(late, topic: topic) }
        for envelope in later { expectRejected(nil) { _ = try harness.opener.open(envelope, topic: topic) } }
        _ = try harness.opener.open(try harness.sealer.seal([99], topic: topic), topic: topic)
    }

    @Test("stale and future messages by timestamp")
    func freshness() throws {
        let policy = ReplayPolicy(maxAgeMilliseconds: 5_000, maxFutureSkewMilliseconds: 1_000)
        let harness = try Harness(encrypt, policy: policy)
        let old = try harness.sealer.seal([1], topic: topic)
        let boundary = try harness.sealer.seal([2], topic: topic)
        harness.clock.advance(by: 5_000)
        #expect(try harness.opener.open(boundary, topic: topic).payload == [2])  // exactly maxAge old
        harness.clock.advance(by: 1)
        expectRejected(.stale) { _ = try harness.opener.open(old, topic: topic) }
        // A sender whose clock runs ahead.
        let ahead = TestClock(harness.clock.now + 1_001)
        let fast = try Sealer(key: harness.key!, clock: ahead.closure)
        expectRejected(.future) { _ = try harness.opener.open(try fast.seal([3], topic: topic), topic: topic) }
        // Exactly at the skew bound (a new sealer: the old one's sequence is already further ahead).
        let justAhead = TestClock(harness.clock.now + 1_000)
        let skewed = try Sealer(key: harness.key!, clock: justAhead.closure)
        #expect(try harness.opener.open(try skewed.seal([4], topic: topic), topic: topic).payload == [4])
    }

    @Test("a restarted sender (same kid and sid, no saved state) is not taken for a replayer")
    func restart() throws {
        let harness = try Harness(encrypt, senderID: 4242)
        for index in 0..<50 {
            _ = try harness.opener.open(try harness.sealer.seal([UInt8(index)], topic: topic), topic: topic)
        }
        harness.clock.advance(by: 2)  // a restart takes at least a couple of milliseconds
        let restarted = try Sealer(key: harness.key!, senderID: 4242, clock: harness.clock.closure)
        #expect(restarted.senderID == harness.sealer.senderID)
        for index in 0..<50 {
            #expect(
                try harness.opener.open(try restarted.seal([UInt8(index)], topic: topic), topic: topic).payload == [
                    UInt8(index)
                ])
        }
    }

    @Test("signed-mode restart: the signer's id stays the sid and messages keep flowing")
    func signedRestart() throws {
        let harness = try Harness(Configuration(suite: .xchacha20poly1305, mode: .encryptAndSign))
        _ = try harness.opener.open(try harness.sealer.seal([1], topic: topic), topic: topic)
        harness.clock.advance(by: 5)
        let restarted = try Sealer(key: harness.key!, signingKey: harness.signingKey!, clock: harness.clock.closure)
        #expect(
            try harness.opener.open(try restarted.seal([2], topic: topic), topic: topic).signer
                == harness.signingKey!.id)
    }

    @Test("retained: own max age, redelivery on every subscribe, must be sealed for retain")
    func retained() throws {
        let policy = ReplayPolicy(maxAgeMilliseconds: 1_000, retainedMaxAgeMilliseconds: 60_000)
        let harness = try Harness(encrypt, policy: policy)
        let state = try harness.sealer.seal([42], topic: topic, retain: true)
        // Live delivery to existing subscribers (retain flag cleared by the broker) goes through the window.
        #expect(try harness.opener.open(state, topic: topic).sealedForRetain)
        expectRejected(.replayed) { _ = try harness.opener.open(state, topic: topic) }
        harness.clock.advance(by: 30_000)  // older than the live max age, younger than the retained one
        expectRejected(.stale) { _ = try harness.opener.open(state, topic: topic) }
        #expect(try harness.opener.open(state, topic: topic, retained: true).payload == [42])
        #expect(try harness.opener.open(state, topic: topic, retained: true).payload == [42])  // resubscribe
        harness.clock.advance(by: 30_001)
        expectRejected(.stale) { _ = try harness.opener.open(state, topic: topic, retained: true) }
        // A message not sealed for retain cannot be passed off as a retained one.
        let live = try harness.sealer.seal([1], topic: topic)
        expectRejected(.malformed) { _ = try harness.opener.open(live, topic: topic, retained: true) }
        // No retained age limit at all.
        let unlimited = harness.freshOpener(policy: ReplayPolicy(retainedMaxAgeMilliseconds: nil))
        harness.clock.advance(by: 10_000_000)
        #expect(try unlimited.open(state, topic: topic, retained: true).payload == [42])
    }

    @Test("memory is bounded; evicting a sender raises a floor so its messages cannot replay")
    func eviction() throws {
        let clock = TestClock()
        let key = try SealKey.generate(id: 1)
        let replayGuard = ReplayGuard(
            policy: ReplayPolicy(maxAgeMilliseconds: 60_000, maxSenders: 3), clock: clock.closure)
        let opener = Opener(keys: KeySet(keys: [key]), replayGuard: replayGuard)
        var firstMessages: [[UInt8]] = []
        for sender in 1...10 {
            let sealer = try Sealer(key: key, senderID: UInt32(sender), clock: clock.closure)
            let envelope = try sealer.seal([UInt8(sender)], topic: topic)
            firstMessages.append(envelope)
            _ = try opener.open(envelope, topic: topic)
            #expect(replayGuard.trackedSenders <= 3)
            clock.advance(by: 1)
        }
        // Every earlier message is either still tracked (replayed) or below the eviction floor.
        for (index, envelope) in firstMessages.enumerated() {
            expectRejected(nil, "sender \(index + 1)") { _ = try opener.open(envelope, topic: topic) }
        }
        // A new sender with a current message is still accepted.
        let newcomer = try Sealer(key: key, senderID: 99, clock: clock.closure)
        _ = try opener.open(try newcomer.seal([1], topic: topic), topic: topic)
    }

    @Test("eviction works in batches of an eighth; per-pair memory stays within 2 x window")
    func batchEvictionAndMemory() throws {
        let clock = TestClock()
        let key = try SealKey.generate(id: 1)
        let replayGuard = ReplayGuard(policy: ReplayPolicy(window: 16, maxSenders: 16), clock: clock.closure)
        let opener = Opener(keys: KeySet(keys: [key]), replayGuard: replayGuard)
        for sender in 1...16 {
            let sealer = try Sealer(key: key, senderID: UInt32(sender), clock: clock.closure)
            _ = try opener.open(try sealer.seal([1], topic: topic), topic: topic)
            clock.advance(by: 1)
        }
        #expect(replayGuard.trackedSenders == 16)
        let late = try Sealer(key: key, senderID: 17, clock: clock.closure)
        _ = try opener.open(try late.seal([1], topic: topic), topic: topic)
        #expect(replayGuard.trackedSenders == 15)  // 2 evicted (16 / 8), 1 added
        // One busy sender: the remembered set never exceeds 2 x window.
        for _ in 0..<500 {
            _ = try opener.open(try late.seal([2], topic: topic), topic: topic)
            #expect(replayGuard.rememberedCount(kid: 1, sid: 17) < 32)
        }
        #expect(replayGuard.rememberedCount(kid: 1, sid: 17) >= 16)
    }

    @Test("senders whose newest message is stale are dropped first, without raising the floor")
    func staleSendersDropped() throws {
        let clock = TestClock()
        let key = try SealKey.generate(id: 1)
        let replayGuard = ReplayGuard(
            policy: ReplayPolicy(maxAgeMilliseconds: 1_000, maxSenders: 2), clock: clock.closure)
        let opener = Opener(keys: KeySet(keys: [key]), replayGuard: replayGuard)
        let a = try Sealer(key: key, senderID: 1, clock: clock.closure)
        let b = try Sealer(key: key, senderID: 2, clock: clock.closure)
        _ = try opener.open(try a.seal([1], topic: topic), topic: topic)
        _ = try opener.open(try b.seal([1], topic: topic), topic: topic)
        clock.advance(by: 2_000)
        // Sealed before the purge, delivered after: a new sender's message with an older timestamp
        // than the stale senders' is still accepted because no floor was raised.
        let c = try Sealer(key: key, senderID: 3, clock: clock.closure)
        let d = try Sealer(key: key, senderID: 4, clock: clock.closure)
        let fromD = try d.seal([4], topic: topic)
        clock.advance(by: 5)
        _ = try opener.open(try c.seal([3], topic: topic), topic: topic)
        #expect(replayGuard.trackedSenders == 1)
        _ = try opener.open(fromD, topic: topic)
        #expect(replayGuard.trackedSenders == 2)
    }

    @Test("the sequence is strictly increasing even when the clock stands still or steps back")
    func monotonicSequence() throws {
        let clock = TestClock()
        let sealer = try Sealer(key: try SealKey.generate(), clock: clock.closure)
        var last: UInt64 = 0
        for step in 0..<300 {
            if step == 100 { clock.set(clock.now - 10_000) }  // NTP step backwards
            if step == 200 { clock.advance(by: 20_000) }
            let seq = sealer.nextSequence()
            #expect(seq > last)
            last = seq
        }
    }

    @Test("without a replay guard nothing is remembered (stored-message verification)")
    func noGuard() throws {
        let harness = try Harness(encrypt)
        let envelope = try harness.sealer.seal([1], topic: topic)
        let stateless = Opener(keys: harness.opener.keys, replayGuard: nil)
        harness.clock.advance(by: 100_000_000)
        #expect(try stateless.open(envelope, topic: topic).payload == [1])
        #expect(try stateless.open(envelope, topic: topic).payload == [1])
    }
}

@Suite("Concurrency")
struct ConcurrencyTests {
    @Test("many tasks seal with one key (AES pool and XChaCha) and everything opens exactly once")
    func concurrentSeal() async throws {
        for suite in [Suite.aes256gcm, .xchacha20poly1305, .hmacSHA256] {
            let key = try SealKey.generate(id: 3, suite: suite)
            let sealer = try Sealer(key: key)
            // Parallel opening reorders one sender's 4000 messages by up to 4000 places: a window to match.
            let opener = Opener(keys: KeySet(keys: [key]), replayGuard: ReplayGuard(policy: ReplayPolicy(window: 4000)))
            let envelopes = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
                for task in 0..<16 {
                    group.addTask {
                        try (0..<250).map { index in
                            try sealer.seal(
                                [UInt8(task), UInt8(index & 0xFF)] + [UInt8](repeating: 1, count: 100), topic: "c")
                        }
                    }
                }
                var all: [[UInt8]] = []
                for try await batch in group { all += batch }
                return all
            }
            #expect(envelopes.count == 4000)
            #expect(Set(envelopes.map { Array($0[9..<17]) }).count == 4000, "\(suite): sequence numbers unique")
            if suite == .aes256gcm {
                #expect(Set(envelopes.map { Array($0[17..<29]) }).count == 4000, "AES IVs unique")
            }
            // Open concurrently too.
            let opened = try await withThrowingTaskGroup(of: Int.self) { group in
                for chunk in stride(from: 0, to: envelopes.count, by: 500) {
                    let slice = Array(envelopes[chunk..<(chunk + 500)])
                    group.addTask {
                        var count = 0
                        for envelope in slice {
                            let message = try opener.open(envelope, topic: "c")
                            count += message.payload.count == 102 ? 1 : 0
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(opened == 4000)
        }
    }
}

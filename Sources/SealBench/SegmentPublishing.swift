import Histogram
import Seal
import SealedMQTT

/// The publishing side of a segment: the closed-loop and task-paced publisher loop (the QoS 0 open loop runs on
/// ``OpenLoopPacer``), the presealed envelopes of the verify-scaling runs, and the waits between phases.
extension Segment {
    /// The envelopes of the verify-scaling runs, sealed before the measurement.
    func presealed(
        publisher: Int, topics: [String], sealers: [Sealer]
    ) throws -> (warm: [[UInt8]], measured: [[UInt8]]) {
        let measuredCount: Int
        if case .count(let total) = plan.stop {
            measuredCount = (total + configuration.publishers - 1) / configuration.publishers
        } else {
            measuredCount = 0
        }
        let warmCount = Swift.max(configuration.warmupCount / configuration.publishers, 1)
        func make(_ count: Int, publisherIndex: Int) throws -> [[UInt8]] {
            var sequences = [UInt64](repeating: 0, count: lanes)
            return try (0..<count).map { index in
                let lane = index % lanes
                let payload = BenchPayload.make(
                    size: plan.size,
                    header: .init(
                        publisher: publisherIndex, lane: lane, sequence: sequences[lane],
                        sentNanoseconds: BenchClock.now()))
                sequences[lane] += 1
                return try sealers[lane].seal(payload, topic: topics[lane])
            }
        }
        return (
            try make(warmCount, publisherIndex: publisher + configuration.publishers),
            try make(measuredCount, publisherIndex: publisher)
        )
    }

    /// One publisher's loop, bounded by `limit` messages and `deadline`.
    func publish(
        publisher: Int, send: @escaping SendFunction, counters: SegmentCounters, warm: Bool, limit: Int?,
        deadline: UInt64?,
        load: BenchLoad
    ) async {
        let lanes = self.lanes
        let factor = self.factor
        let publishers = configuration.publishers
        let stallLimit = UInt64(configuration.drainTimeout.seconds * 1e9)
        let maxInFlight: Int
        switch load {
        case .rate: maxInFlight = 1024
        case .maximum(let window): maxInFlight = Swift.max(Swift.min(window, 1024), 1)
        }
        let streamIndex = warm ? publisher + publishers : publisher
        let start = BenchClock.now()
        let hardDeadline = deadline ?? (start + UInt64(BenchConfiguration.maximumDuration.seconds * 1e9))
        var sequences = [UInt64](repeating: 0, count: lanes)
        var buffer = BenchPayload.make(
            size: plan.size, header: .init(publisher: 0, lane: 0, sequence: 0, sentNanoseconds: 0))
        let limit = Swift.min(limit ?? BenchConfiguration.maximumCount, BenchConfiguration.maximumCount)
        let qos0 = configuration.qos == 0
        var lateness = SubscriberState.latencyHistogram()
        defer {
            if !warm, case .rate = load { counters.pacerLateness.withLock { $0.add(lateness) } }
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for index in 0..<limit {
                    var now = BenchClock.now()
                    if now >= hardDeadline || counters.failed { break }
                    var sendTime = now
                    switch load {
                    case .rate(let rate):
                        let interval = 1e9 * Double(publishers) / rate
                        let intended = start + UInt64(Double(index) * interval)
                        if intended > now + 20_000 {
                            // No tolerance: the default lets the timer coalesce and wake tens of µs late.
                            try await Task.sleep(
                                until: .now + .nanoseconds(Int64(intended - now)), tolerance: .zero,
                                clock: .continuous)
                            now = BenchClock.now()
                        }
                        _ = lateness.record(
                            Swift.min(
                                Swift.max((now &- Swift.min(intended, now)) / 1000, 1), SubscriberState.highestLatency))
                        // Stamped with the intended time: a late pacer shows up as latency (no coordinated omission).
                        sendTime = Swift.min(intended, now)
                    case .maximum(let window):
                        // Hysteresis: once the window is full, wait until a quarter of it drained, so that a
                        // wake-up admits many messages (a sleep per message would cost more than the message).
                        if counters.inTransit(warm: warm, factor: factor) >= window {
                            let resume = window - Swift.max(window / 4, 1)
                            let waitedSince = BenchClock.now()
                            while counters.inTransit(warm: warm, factor: factor) > resume {
                                if BenchClock.now() - waitedSince > stallLimit || counters.failed { break }
                                try await Task.sleep(nanoseconds: 200_000)
                            }
                        }
                        sendTime = BenchClock.now()
                    }
                    let lane = index % lanes
                    BenchPayload.write(
                        .init(publisher: streamIndex, lane: lane, sequence: sequences[lane], sentNanoseconds: sendTime),
                        into: &buffer)
                    sequences[lane] += 1
                    counters.countSent(warm: warm)
                    let sendIndex = warm ? -index - 1 : index
                    if qos0 {
                        try await send(lane, sendIndex, buffer)
                    } else {
                        if inFlight >= maxInFlight {
                            try await group.next()
                            inFlight -= 1
                        }
                        let payload = buffer
                        group.addTask { try await send(lane, sendIndex, payload) }
                        inFlight += 1
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            if !counters.stopping.load(ordering: .relaxed) {
                counters.fail("publishing failed (the broker went away?): \(error)")
            }
        }
    }

    /// Polls `condition` every 5 ms until it holds, the segment failed, or `timeout` passed (since the start, or
    /// with `resetOnProgress` since the last change of the delivered counters).
    func waitUntil(
        timeout: Duration, counters: SegmentCounters, resetOnProgress: Bool = false, _ condition: () -> Bool
    ) async {
        let limit = UInt64(timeout.seconds * 1e9)
        var since = BenchClock.now()
        var last = -1
        while !condition() && !counters.failed {
            let seen = counters.delivered.load(ordering: .relaxed) + counters.warmDelivered.load(ordering: .relaxed)
            if resetOnProgress && seen != last {
                last = seen
                since = BenchClock.now()
            }
            if BenchClock.now() - since > limit { return }
            do { try await Task.sleep(for: .milliseconds(5)) } catch { return }
        }
    }

    func statistics(of clients: [SealedMQTTClient]) async -> (rejected: Int, duplicates: Int) {
        var rejected = 0
        var duplicates = 0
        for client in clients {
            let statistics = await client.statistics
            rejected += statistics.rejected
            duplicates += statistics.duplicates
        }
        return (rejected, duplicates)
    }
}

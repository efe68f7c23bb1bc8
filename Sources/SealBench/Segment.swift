import Histogram
import Logging
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization

/// Publishes one payload of a publisher on one of its topics.
typealias SendFunction = @Sendable (_ lane: Int, _ index: Int, _ payload: [UInt8]) async throws -> Void

/// One measured segment: connect, warm up, measure, drain, disconnect.
struct Segment: Sendable {
    let plan: SegmentPlan
    let configuration: BenchConfiguration
    let endpoint: Endpoint
    let topicBase: String
    let index: Int
    let count: Int
    let progress: @Sendable (BenchProgress) -> Void

    struct Outcome {
        var result: BenchModeResult
        var series: [BenchSeriesPoint]
        var failure: String?
        /// The merged latency histogram of the subscribers (nil when the segment never started).
        var histogram: Histogram<UInt64>? = nil
        /// Open loop: the publishers' lateness histogram (nil for closed loop).
        var pacer: Histogram<UInt64>? = nil
        /// Process CPU time over the segment, microseconds, without the pacer's spinning.
        var cpuMicroseconds: Double = 0
        /// Open loop at QoS 0: the pacer thread's spinning before due times, microseconds.
        var pacerSpinMicroseconds: Double? = nil
        /// The local broker's CPU time over the segment, microseconds.
        var brokerCPUMicroseconds: Double? = nil
    }

    var factor: Int { configuration.sharedGroup == nil ? configuration.subscribers : 1 }
    var lanes: Int { configuration.topicsPerPublisher }

    func topic(publisher: Int, lane: Int) -> String { "\(topicBase)/p\(publisher)/t\(lane)" }

    var filter: String {
        if let group = configuration.sharedGroup { return "$share/\(group)/\(topicBase)/#" }
        return "\(topicBase)/#"
    }

    func run() async -> Outcome {
        let counters = SegmentCounters()
        var result = BenchModeResult(
            mode: plan.mode, payloadBytes: plan.size, qos: configuration.qos, complete: false, sent: 0, expected: 0,
            delivered: 0, lost: 0, duplicates: 0, reordered: 0, verificationFailures: 0, seconds: 0,
            messagesPerSecond: 0, megabytesPerSecond: 0,
            latencyMicroseconds: BenchLatency(count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0),
            cpuMicrosecondsPerMessage: 0, brokerCPUMicrosecondsPerMessage: nil, envelopeBytes: plan.size,
            overheadBytes: 0, throughputRatioToPlaintext: nil, p99RatioToPlaintext: nil, cpuRatioToPlaintext: nil)
        let qos = MQTTQoS(rawValue: UInt8(configuration.qos)) ?? .atMostOnce
        var quiet = Logger(label: "sealbench.sealed")
        quiet.logLevel = .critical

        // MARK: Clients
        let keys: BenchKeys
        do { keys = try BenchKeys(mode: plan.mode) } catch {
            return Outcome(result: result, series: [], failure: "cannot create the keys of \(plan.mode): \(error)")
        }
        let sealedConfiguration = SealedMQTTConfiguration(
            policy: keys.policy, replayPolicy: ReplayPolicy(window: 65_536), workerCount: plan.workers,
            logger: quiet)
        let prefix = "sealbench-\(topicBase.split(separator: "/").dropFirst().joined(separator: "-"))"
        var rawClients: [MQTTClient] = []
        var sealedSubscribers: [SealedMQTTClient] = []
        var subscriberTasks: [Task<SubscriberOutcome, Never>] = []
        var sends: [SendFunction] = []
        var immediates: [ImmediatePublisher] = []
        let publishers = configuration.publishers
        let size = plan.size

        func cleanUp() async {
            counters.stopping.store(true, ordering: .relaxed)
            for client in rawClients { await client.disconnect() }
            for client in sealedSubscribers { await client.disconnect() }
        }

        do {
            for subscriber in 0..<configuration.subscribers {
                let mqtt = try MQTTClient(configuration: endpoint.clientConfiguration(id: "\(prefix)-s\(subscriber)"))
                var state = SubscriberState(publishers: publishers, lanes: lanes, size: size, counters: counters)
                if plan.mode == .plaintext {
                    rawClients.append(mqtt)
                    try await mqtt.connect()
                    let stream = try await mqtt.subscribe(to: filter, qos: qos)
                    subscriberTasks.append(
                        Task {
                            do {
                                for try await message in stream {
                                    message.payload.withUnsafeReadableBytes { state.handle($0) }
                                }
                            } catch {
                                if !counters.stopping.load(ordering: .relaxed) {
                                    counters.fail("the subscription ended: \(error)")
                                }
                            }
                            return state.outcome
                        })
                } else {
                    let sealed = SealedMQTTClient(
                        client: mqtt, keys: keys.subscriber, configuration: sealedConfiguration)
                    sealedSubscribers.append(sealed)
                    try await sealed.connect()
                    let stream = try await sealed.subscribe(to: filter, qos: qos)
                    subscriberTasks.append(
                        Task {
                            do {
                                for try await message in stream {
                                    message.payload.withUnsafeBytes { state.handle($0) }
                                }
                            } catch {
                                if !counters.stopping.load(ordering: .relaxed) {
                                    counters.fail("the subscription ended: \(error)")
                                }
                            }
                            return state.outcome
                        })
                }
            }
            for publisher in 0..<publishers {
                let mqtt = try MQTTClient(configuration: endpoint.clientConfiguration(id: "\(prefix)-p\(publisher)"))
                rawClients.append(mqtt)
                let topics = (0..<lanes).map { topic(publisher: publisher, lane: $0) }
                if plan.mode == .plaintext {
                    try await mqtt.connect()
                    sends.append { lane, _, payload in
                        try await mqtt.publish(to: topics[lane], payload: ByteBuffer(bytes: payload), qos: qos)
                    }
                    immediates.append(
                        ImmediatePublisher(
                            send: { lane, _, payload in
                                try mqtt.publishWithoutWaiting(to: topics[lane], payload: ByteBuffer(bytes: payload))
                            }, ready: { mqtt.canPublishWithoutWaiting }))
                } else if plan.presealed {
                    try await mqtt.connect()
                    let sealers = try topics.map { try keys.publisher.signOnlySealer(for: $0) }
                    let prepared = try presealed(publisher: publisher, topics: topics, sealers: sealers)
                    result.envelopeBytes = prepared.measured.first?.count ?? size
                    sends.append { lane, index, _ in
                        let envelope = index < 0 ? prepared.warm[-index - 1] : prepared.measured[index]
                        try await mqtt.publish(to: topics[lane], payload: ByteBuffer(bytes: envelope), qos: qos)
                    }
                } else {
                    let sealed = SealedMQTTClient(
                        client: mqtt, keys: keys.publisher, configuration: sealedConfiguration)
                    try await sealed.connect()
                    let sample = try sealed.seal(
                        BenchPayload.make(
                            size: size,
                            header: .init(
                                publisher: 0, lane: 0, sequence: 0, sentNanoseconds: 0)), for: topics[0])
                    result.envelopeBytes = sample.count
                    sends.append { lane, _, payload in
                        try await sealed.publish(to: topics[lane], payload: payload, qos: qos)
                    }
                    immediates.append(
                        ImmediatePublisher(
                            send: { lane, _, payload in
                                try sealed.publishWithoutWaiting(to: topics[lane], payload: payload)
                            }, ready: { sealed.canPublishWithoutWaiting }))
                }
            }
        } catch {
            await cleanUp()
            for task in subscriberTasks { _ = await task.value }
            return Outcome(
                result: result, series: [],
                failure: "cannot set up \(plan.label) on \(endpoint.host):\(endpoint.port): \(error)")
        }
        result.overheadBytes = result.envelopeBytes - size
        let sendFunctions = sends
        let immediatePublishers = immediates

        // MARK: Warm-up
        if configuration.warmupCount > 0 {
            let perPublisher = Swift.max(configuration.warmupCount / publishers, 1)
            await withTaskGroup(of: Void.self) { group in
                for publisher in 0..<publishers {
                    group.addTask {
                        await publish(
                            publisher: publisher, send: sendFunctions[publisher], counters: counters, warm: true,
                            limit: perPublisher, deadline: nil, load: .maximum(window: 1000))
                    }
                }
            }
            let warmTarget = counters.warmSent.load(ordering: .relaxed) * factor
            await waitUntil(timeout: .seconds(3), counters: counters) {
                counters.warmDelivered.load(ordering: .relaxed) >= warmTarget
            }
        }

        // MARK: Measure
        let sealedBefore = await statistics(of: sealedSubscribers)
        let cpuBefore = BenchClock.processCPUMicroseconds()
        let brokerBefore = endpoint.brokerPID.flatMap { BenchClock.cpuMicroseconds(ofProcess: $0) }
        let start = BenchClock.now()
        counters.start.store(start, ordering: .relaxed)
        let limitPerPublisher: Int?
        let deadline: UInt64
        switch plan.stop {
        case .count(let total):
            limitPerPublisher = (total + publishers - 1) / publishers
            deadline = start + UInt64(BenchConfiguration.maximumDuration.seconds * 1e9)
        case .duration(let duration):
            limitPerPublisher = BenchConfiguration.maximumCount / publishers
            deadline = start + UInt64(duration.seconds * 1e9)
        }
        var spin: Double? = nil
        let sampler = Sampler(counters: counters, start: start)
        let watched = rawClients.first
        let samplerTask = Task {
            await sampler.run(
                label: plan.label, size: size, index: index, count: count, progress: progress, client: watched)
        }
        if case .rate(let rate) = plan.load, configuration.qos == 0, immediatePublishers.count == publishers {
            // QoS 0 open loop: one timer thread for all publishers (see OpenLoopPacer). Presealed verify-scaling
            // runs are closed loop and have no immediate publishers.
            let pacer = OpenLoopPacer(
                rate: rate, limitPerPublisher: limitPerPublisher ?? BenchConfiguration.maximumCount,
                deadline: deadline, lanes: lanes, size: size,
                stallLimit: UInt64(configuration.drainTimeout.seconds * 1e9))
            let paced = await pacer.run(publishers: immediatePublishers, counters: counters)
            counters.pacerLateness.withLock { $0.add(paced.lateness) }
            spin = Double(paced.spinNanoseconds) / 1000
        } else {
            await withTaskGroup(of: Void.self) { group in
                for publisher in 0..<publishers {
                    group.addTask {
                        await publish(
                            publisher: publisher, send: sendFunctions[publisher], counters: counters, warm: false,
                            limit: limitPerPublisher, deadline: deadline, load: plan.load)
                    }
                }
            }
        }
        sampler.phase.withLock { $0 = "drain" }
        let target = counters.sent.load(ordering: .relaxed) * factor
        await waitUntil(timeout: configuration.drainTimeout, counters: counters, resetOnProgress: true) {
            counters.delivered.load(ordering: .relaxed) >= target
        }
        let cpuAfter = BenchClock.processCPUMicroseconds()
        let brokerAfter = endpoint.brokerPID.flatMap { BenchClock.cpuMicroseconds(ofProcess: $0) }
        let sealedAfter = await statistics(of: sealedSubscribers)
        samplerTask.cancel()
        let series = await samplerTask.value

        // MARK: Tear down and merge
        await cleanUp()
        var outcomes: [SubscriberOutcome] = []
        for task in subscriberTasks { outcomes.append(await task.value) }

        let failure = counters.failure.withLock { $0 }
        let sent = counters.sent.load(ordering: .relaxed)
        result.complete = failure == nil
        result.sent = sent
        result.expected = sent * factor
        var histogram = SubscriberState.latencyHistogram()
        var perSecond: [Histogram<UInt64>] = []
        var corrupt = 0
        var duplicates = 0
        var reordered = 0
        var lastDelivery: UInt64 = 0
        for outcome in outcomes {
            histogram.add(outcome.histogram)
            for (second, entry) in outcome.perSecond.enumerated() {
                if second < perSecond.count { perSecond[second].add(entry) } else { perSecond.append(entry) }
            }
            corrupt += outcome.corrupt + outcome.tracker.foreign
            duplicates += outcome.tracker.duplicates
            reordered += outcome.tracker.reordered
            lastDelivery = Swift.max(lastDelivery, outcome.lastDelivery)
        }
        if configuration.sharedGroup != nil {
            let union = SequenceTracker.union(outcomes.map(\.tracker))
            result.delivered = union.unique
            duplicates += union.overlaps
        } else {
            result.delivered = outcomes.reduce(0) { $0 + $1.tracker.delivered }
        }
        result.lost = Swift.max(result.expected - result.delivered, 0)
        result.duplicates = duplicates + (sealedAfter.duplicates - sealedBefore.duplicates)
        result.reordered = reordered
        result.verificationFailures = corrupt + (sealedAfter.rejected - sealedBefore.rejected)
        let end = lastDelivery > start ? lastDelivery : BenchClock.now()
        result.seconds = Double(end - start) / 1e9
        if result.seconds > 0 {
            result.messagesPerSecond = Double(result.delivered) / result.seconds
            result.megabytesPerSecond = result.messagesPerSecond * Double(size) / 1e6
        }
        result.latencyMicroseconds = BenchLatency(histogram)
        let pacerHistogram = counters.pacerLateness.withLock { $0 }
        let pacer = pacerHistogram.totalCount > 0 ? pacerHistogram : nil
        result.pacerLatenessMicroseconds = pacer.map(BenchLatency.init)
        let cpu = Swift.max(Double(cpuAfter - cpuBefore) - (spin ?? 0), 0)
        if result.delivered > 0 {
            result.cpuMicrosecondsPerMessage = cpu / Double(result.delivered)
            result.pacerSpinMicrosecondsPerMessage = spin.map { $0 / Double(result.delivered) }
            if let brokerBefore, let brokerAfter {
                result.brokerCPUMicrosecondsPerMessage = Double(brokerAfter - brokerBefore) / Double(result.delivered)
            }
        }
        let points = series.enumerated().map { offset, sample in
            let second = offset
            let p99: Double? =
                second < perSecond.count && perSecond[second].totalCount > 0
                ? Double(perSecond[second].valueAtPercentile(99)) : nil
            return BenchSeriesPoint(
                second: second + 1, mode: plan.mode, payloadBytes: size, sent: sample.sent,
                delivered: sample.delivered, p99Microseconds: p99)
        }
        return Outcome(
            result: result, series: points, failure: failure.map { "\(plan.label): \($0)" }, histogram: histogram,
            pacer: pacer,
            cpuMicroseconds: cpu, pacerSpinMicroseconds: spin,
            brokerCPUMicroseconds: brokerBefore.flatMap { before in brokerAfter.map { Double($0 - before) } })
    }
}

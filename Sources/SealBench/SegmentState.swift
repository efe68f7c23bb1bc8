// The state one segment shares between its tasks: the counters, what each subscriber observed, the sampler.
import Histogram
import MQTT
import Synchronization

/// Counters shared by the publishers, the subscribers and the supervisor of one segment.
final class SegmentCounters: Sendable {
    let sent = Atomic<Int>(0)
    let delivered = Atomic<Int>(0)
    let warmSent = Atomic<Int>(0)
    let warmDelivered = Atomic<Int>(0)
    /// Monotonic nanoseconds when the measured phase started (0 before).
    let start = Atomic<UInt64>(0)
    let stopping = Atomic<Bool>(false)
    let failure = Mutex<String?>(nil)
    /// Open loop: how late the publishers got to each measured message after its intended send time, merged when
    /// each publisher ends.
    let pacerLateness = Mutex(SubscriberState.latencyHistogram())

    func fail(_ message: String) {
        failure.withLock { if $0 == nil { $0 = message } }
    }

    var failed: Bool { failure.withLock { $0 != nil } }

    func countSent(warm: Bool) {
        if warm { warmSent.add(1, ordering: .relaxed) } else { sent.add(1, ordering: .relaxed) }
    }

    /// Messages sent but not yet delivered (deliveries divided by the deliveries expected per message).
    func inTransit(warm: Bool, factor: Int) -> Int {
        warm
            ? warmSent.load(ordering: .relaxed) - warmDelivered.load(ordering: .relaxed) / factor
            : sent.load(ordering: .relaxed) - delivered.load(ordering: .relaxed) / factor
    }
}

/// What one subscriber observed.
struct SubscriberOutcome: Sendable {
    var tracker: SequenceTracker
    var histogram: Histogram<UInt64>
    var perSecond: [Histogram<UInt64>]
    var corrupt = 0
    var lastDelivery: UInt64 = 0
}

/// The per-message work of a subscriber.
struct SubscriberState: Sendable {
    /// The largest latency (and pacer lateness) recorded, in microseconds: 60 s.
    static let highestLatency: UInt64 = 60_000_000

    /// An empty histogram of microseconds up to ``highestLatency``, what every latency and lateness figure uses.
    static func latencyHistogram(digits: SignificantDigits = .three) -> Histogram<UInt64> {
        Histogram(
            lowestDiscernibleValue: 1, highestTrackableValue: highestLatency, numberOfSignificantValueDigits: digits)
    }

    let publishers: Int
    let size: Int
    let counters: SegmentCounters
    var outcome: SubscriberOutcome

    init(publishers: Int, lanes: Int, size: Int, counters: SegmentCounters) {
        self.publishers = publishers
        self.size = size
        self.counters = counters
        outcome = SubscriberOutcome(
            tracker: SequenceTracker(publishers: publishers, lanes: lanes),
            histogram: Self.latencyHistogram(),
            perSecond: [])
    }

    mutating func handle(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == size, let header = BenchPayload.read(bytes) else {
            outcome.corrupt += 1
            return
        }
        if header.publisher >= publishers {
            counters.warmDelivered.add(1, ordering: .relaxed)
            return
        }
        let now = BenchClock.now()
        guard outcome.tracker.record(header) else { return }
        let latency = Swift.min(
            Swift.max((now &- Swift.min(header.sentNanoseconds, now)) / 1000, 1), Self.highestLatency)
        _ = outcome.histogram.record(latency)
        let start = counters.start.load(ordering: .relaxed)
        let second = start > 0 && now > start ? Int((now - start) / 1_000_000_000) : 0
        if second < 4096 {
            while outcome.perSecond.count <= second {
                outcome.perSecond.append(Self.latencyHistogram(digits: .two))
            }
            _ = outcome.perSecond[second].record(latency)
        }
        outcome.lastDelivery = now
        counters.delivered.add(1, ordering: .relaxed)
    }
}

/// Samples the counters four times a second: progress reports, and one series point per second.
final class Sampler: Sendable {
    struct Sample: Sendable {
        var sent: Int
        var delivered: Int
    }

    let counters: SegmentCounters
    let start: UInt64
    let phase = Mutex("measure")

    init(counters: SegmentCounters, start: UInt64) {
        self.counters = counters
        self.start = start
    }

    func run(
        label: String, size: Int, index: Int, count: Int, progress: @Sendable (BenchProgress) -> Void,
        client: MQTTClient?
    ) async -> [Sample] {
        var samples: [Sample] = []
        var lastSent = 0
        var lastDelivered = 0
        var lastRateDelivered = 0
        var lastRateTime = start
        var tick = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(250)) } catch { break }
            tick += 1
            let now = BenchClock.now()
            let sent = counters.sent.load(ordering: .relaxed)
            let delivered = counters.delivered.load(ordering: .relaxed)
            let rate = Double(delivered - lastRateDelivered) / (Double(now - lastRateTime) / 1e9)
            lastRateDelivered = delivered
            lastRateTime = now
            progress(
                BenchProgress(
                    segment: label, payloadBytes: size, phase: phase.withLock { $0 }, sent: sent, delivered: delivered,
                    elapsedSeconds: Double(now - start) / 1e9, currentRate: rate, segmentIndex: index,
                    segmentCount: count))
            if tick % 4 == 0 {
                samples.append(Sample(sent: sent - lastSent, delivered: delivered - lastDelivered))
                lastSent = sent
                lastDelivered = delivered
                if let client, !(await client.isConnected), !counters.stopping.load(ordering: .relaxed) {
                    counters.fail("lost the connection to the broker")
                }
            }
        }
        // The last, partial second (or the only one of a segment shorter than a second).
        let sent = counters.sent.load(ordering: .relaxed)
        let delivered = counters.delivered.load(ordering: .relaxed)
        if sent != lastSent || delivered != lastDelivered {
            samples.append(Sample(sent: sent - lastSent, delivered: delivered - lastDelivered))
        }
        return samples
    }
}

extension BenchLatency {
    /// The percentiles of a histogram of microseconds.
    init(_ histogram: Histogram<UInt64>) {
        self.init(
            count: Int(histogram.totalCount), p50: Double(histogram.valueAtPercentile(50)),
            p90: Double(histogram.valueAtPercentile(90)), p99: Double(histogram.valueAtPercentile(99)),
            p999: Double(histogram.valueAtPercentile(99.9)), max: Double(histogram.max),
            mean: histogram.totalCount > 0 && histogram.mean.isFinite ? histogram.mean : 0)
    }
}

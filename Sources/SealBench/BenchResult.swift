/// Latency percentiles in microseconds (HdrHistogram, 3 significant digits).
public struct BenchLatency: Codable, Sendable, Hashable {
    /// Number of recorded latencies.
    public var count: Int
    /// Median.
    public var p50: Double
    /// 90th percentile.
    public var p90: Double
    /// 99th percentile.
    public var p99: Double
    /// 99.9th percentile.
    public var p999: Double
    /// Largest.
    public var max: Double
    /// Mean.
    public var mean: Double

    /// Creates a latency summary.
    public init(count: Int, p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }
}

/// The measurements of one mode at one payload size.
public struct BenchModeResult: Codable, Sendable, Hashable {
    /// The mode.
    public var mode: BenchMode
    /// Application payload size in bytes.
    public var payloadBytes: Int
    /// MQTT QoS.
    public var qos: Int
    /// Whether the segment ran to its end (false when the broker was lost during it).
    public var complete: Bool
    /// Messages the publishers handed to the client (measured phase only).
    public var sent: Int
    /// Deliveries expected: `sent` times the subscribers (1 with a shared subscription).
    public var expected: Int
    /// Distinct messages delivered to the application (per subscriber, summed; once per message when shared).
    public var delivered: Int
    /// Expected minus delivered.
    public var lost: Int
    /// Messages seen twice (by the application, or dropped as replays by the sealed client's replay guard).
    public var duplicates: Int
    /// Messages that arrived after a later one of the same publisher and topic.
    public var reordered: Int
    /// Messages the sealed client rejected (any reason other than duplicates), plus payloads that arrived corrupt.
    public var verificationFailures: Int
    /// Seconds from the first measured publish to the last delivery.
    public var seconds: Double
    /// Delivered messages per second.
    public var messagesPerSecond: Double
    /// Delivered application payload megabytes (10^6 bytes) per second.
    public var megabytesPerSecond: Double
    /// Latency from the (intended) send time to delivery to the application.
    public var latencyMicroseconds: BenchLatency
    /// Open loop only: how late the pacer got to each message after its intended send time (1 µs is the
    /// histogram's floor). Large values mean the latency figures include the pacer's own delay.
    public var pacerLatenessMicroseconds: BenchLatency?
    /// Process CPU time (user + system, getrusage, publishers + subscribers + client I/O) per delivered message,
    /// without the open-loop pacer's spinning (``pacerSpinMicrosecondsPerMessage``).
    public var cpuMicrosecondsPerMessage: Double
    /// Open loop at QoS 0 only: time the pacer thread spun before due times, per delivered message. It is CPU time
    /// of the harness that is not publishing work, so it is left out of ``cpuMicrosecondsPerMessage``.
    public var pacerSpinMicrosecondsPerMessage: Double?
    /// The local broker's CPU time per delivered message (from /proc), or nil for an external broker.
    public var brokerCPUMicrosecondsPerMessage: Double?
    /// Bytes of one envelope as published.
    public var envelopeBytes: Int
    /// Envelope minus payload bytes.
    public var overheadBytes: Int
    /// Throughput divided by plaintext throughput at the same size (nil without a plaintext segment).
    public var throughputRatioToPlaintext: Double?
    /// p99 latency divided by plaintext p99 at the same size (nil without a plaintext segment).
    public var p99RatioToPlaintext: Double?
    /// CPU per message divided by plaintext CPU per message at the same size.
    public var cpuRatioToPlaintext: Double?
    /// Signed modes: throughput divided by ``BenchResult/signedCeiling``.
    public var ceilingRatio: Double?

    /// The key that identifies the segment across result files: `mode@size`.
    public var key: String { "\(mode.rawValue)@\(payloadBytes)" }
}

/// Sign-mode verification throughput with one and with two verification workers.
public struct BenchVerifyScaling: Codable, Sendable, Hashable {
    /// The mode measured (`ed25519`).
    public var mode: BenchMode
    /// Payload size.
    public var payloadBytes: Int
    /// Messages per run.
    public var count: Int
    /// Delivered (verified) messages per second with `workerCount` 1.
    public var oneWorkerMessagesPerSecond: Double
    /// Delivered (verified) messages per second with `workerCount` 2.
    public var twoWorkersMessagesPerSecond: Double
    /// Two-worker rate divided by the one-worker rate.
    public var ratio: Double
    /// The target ratio from the issue (1.6).
    public var target: Double
    /// Messages lost or rejected in either run (should be 0).
    public var lostOrRejected: Int
    /// How the runs were made.
    public var method: String
}

/// One second of one segment.
public struct BenchSeriesPoint: Codable, Sendable, Hashable {
    /// Seconds since the segment's measurement started (1 is the first full second).
    public var second: Int
    /// The segment's mode.
    public var mode: BenchMode
    /// The segment's payload size.
    public var payloadBytes: Int
    /// Messages sent in this second.
    public var sent: Int
    /// Messages delivered in this second.
    public var delivered: Int
    /// p99 latency of the messages delivered in this second, microseconds (nil when none).
    public var p99Microseconds: Double?
}

/// The machine and the software the run was made with.
public struct BenchEnvironment: Codable, Sendable, Hashable {
    /// CPU model (/proc/cpuinfo `model name`).
    public var cpuModel: String
    /// Active cores.
    public var cores: Int
    /// Load average (1 min) when the run started, as a hint of other work on the machine.
    public var loadAverage: Double?
    /// Operating system (uname).
    public var os: String
    /// Swift compiler version.
    public var swiftVersion: String
    /// libsodium version (pkg-config).
    public var libsodiumVersion: String
    /// OpenSSL version (`openssl version`).
    public var opensslVersion: String
    /// mosquitto version (`mosquitto -h`, first line).
    public var mosquittoVersion: String
    /// Build configuration of the harness (`release` or `debug`).
    public var build: String
    /// Host name.
    public var hostname: String
}

/// The configuration as recorded in a result file.
public struct BenchConfigurationSummary: Codable, Sendable, Hashable {
    /// Modes in measurement order.
    public var modes: [BenchMode]
    /// QoS.
    public var qos: Int
    /// Payload sizes.
    public var sizes: [Int]
    /// Publisher clients.
    public var publishers: Int
    /// Subscriber clients.
    public var subscribers: Int
    /// Shared-subscription group, or nil.
    public var sharedGroup: String?
    /// Topics per publisher.
    public var topicsPerPublisher: Int
    /// `rate` (open loop) or `max` (maximum throughput).
    public var load: String
    /// Target rate (messages per second), for `rate`.
    public var targetRate: Double?
    /// In-transit window, for `max`.
    public var window: Int?
    /// Messages per segment, when stopping by count.
    public var count: Int?
    /// Seconds per segment, when stopping by duration.
    public var durationSeconds: Double?
    /// Warm-up messages per segment.
    public var warmupCount: Int
    /// Verification workers of the subscribers (nil: the default, the core count).
    public var workerCount: Int?
    /// Rounds: the mode sequence is repeated this many times, each round measuring 1/rounds of the count or
    /// duration, and the rounds of each mode are summed (interleaving evens out drift on a shared machine).
    public var rounds: Int
    /// `local` (own mosquitto) or `external`.
    public var broker: String
}

/// The whole result of a run; `--json` writes it (Specs/bench-result.schema.json).
public struct BenchResult: Codable, Sendable, Hashable {
    /// The schema version: 1.
    public var schemaVersion: Int
    /// Whether every segment ran to its end.
    public var complete: Bool
    /// Why the run ended early, or nil.
    public var error: String?
    /// Start time, ISO 8601 UTC.
    public var startedAt: String
    /// The machine and software.
    public var environment: BenchEnvironment
    /// The configuration.
    public var configuration: BenchConfigurationSummary
    /// One entry per measured (mode, size) segment, in measurement order.
    public var modes: [BenchModeResult]
    /// Sign-mode verification with 1 and 2 workers, when measured.
    public var verifyScaling: BenchVerifyScaling?
    /// The signed-mode ceiling computed in this run (when a signed mode and plaintext ran at the same size).
    public var signedCeiling: BenchSignedCeiling?
    /// Per-second series of every segment.
    public var series: [BenchSeriesPoint]

    /// Fills in the ratios to the plaintext segment of the same size.
    mutating func computeRatios() {
        for index in modes.indices {
            guard
                let plain = modes.first(where: {
                    $0.mode == .plaintext && $0.payloadBytes == modes[index].payloadBytes
                })
            else { continue }
            let entry = modes[index]
            modes[index].throughputRatioToPlaintext =
                plain.messagesPerSecond > 0 ? entry.messagesPerSecond / plain.messagesPerSecond : nil
            modes[index].p99RatioToPlaintext =
                plain.latencyMicroseconds.p99 > 0 ? entry.latencyMicroseconds.p99 / plain.latencyMicroseconds.p99 : nil
            modes[index].cpuRatioToPlaintext =
                plain.cpuMicrosecondsPerMessage > 0
                ? entry.cpuMicrosecondsPerMessage / plain.cpuMicrosecondsPerMessage : nil
        }
    }
}

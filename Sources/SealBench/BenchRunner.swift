import Foundation
import Histogram
import LocalBroker
import Logging
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization

/// What the runner is doing, reported several times a second.
public struct BenchProgress: Sendable {
    /// The segment: a mode name, or `verify-scaling/<n>w`.
    public var segment: String
    /// Payload size of the segment.
    public var payloadBytes: Int
    /// `warm-up`, `measure` or `drain`.
    public var phase: String
    /// Messages sent so far in the measured phase.
    public var sent: Int
    /// Messages delivered so far in the measured phase.
    public var delivered: Int
    /// Seconds since the measured phase started.
    public var elapsedSeconds: Double
    /// Deliveries per second over the last report interval.
    public var currentRate: Double
    /// Segments finished so far and in total.
    public var segmentIndex: Int
    /// Number of segments in the run.
    public var segmentCount: Int

    /// A one-line rendering, for a progress line.
    public var line: String {
        let rate =
            currentRate >= 1000 ? String(format: "%.1fk", currentRate / 1000) : String(format: "%.0f", currentRate)
        return "[\(segmentIndex + 1)/\(segmentCount)] \(segment) \(payloadBytes) B \(phase): sent \(sent), "
            + "delivered \(delivered), \(rate) msg/s, \(String(format: "%.1f", elapsedSeconds)) s"
    }
}

/// Runs a benchmark: starts (or reaches) the broker, measures every (size, mode) segment in turn, each after its
/// own warm-up, and the optional verify-scaling runs, and returns the ``BenchResult``.
///
/// Every load loop is bounded by count and time: a segment never publishes more than
/// ``BenchConfiguration/maximumCount`` messages nor runs longer than its duration (or
/// ``BenchConfiguration/maximumDuration``) plus ``BenchConfiguration/drainTimeout``.
public final class BenchRunner: Sendable {
    /// The configuration (validated by ``run(progress:)``).
    public let configuration: BenchConfiguration

    /// Creates a runner.
    public init(configuration: BenchConfiguration) {
        self.configuration = configuration
    }

    /// Runs the benchmark.
    ///
    /// - Parameter progress: called from a background task about four times a second.
    /// - Returns: the result; when the broker is lost during the run, a partial result with `complete == false`
    ///   and ``BenchResult/error`` set (the segments finished before are kept, the interrupted one is included
    ///   with its partial counts).
    /// - Throws: ``BenchError`` with ``BenchError/Code/invalidConfiguration`` before anything starts, or
    ///   ``BenchError/Code/brokerUnavailable`` when the broker cannot be started or reached.
    public func run(
        progress: @escaping @Sendable (BenchProgress) -> Void = { _ in }
    ) async throws(BenchError)
        -> BenchResult
    {
        try configuration.validate()
        let environment = BenchEnvironment.current()
        var result = BenchResult(
            schemaVersion: 1, complete: true, error: nil, startedAt: Self.timestamp(), environment: environment,
            configuration: configuration.summary, modes: [], verifyScaling: nil, signedCeiling: nil, series: [])

        let broker: LocalBroker?
        let endpoint: Endpoint
        switch configuration.broker {
        case .local:
            do {
                let started = try await LocalBroker.start(.init(maxQueuedMessages: 100_000))
                broker = started
                endpoint = Endpoint(host: started.host, port: started.plainPort, external: nil, brokerPID: started.pid)
            } catch {
                throw BenchError(.brokerUnavailable, "cannot start mosquitto: \(error)")
            }
        case .external(let external):
            broker = nil
            endpoint = Endpoint(host: external.host, port: external.port, external: external, brokerPID: nil)
        }
        defer { broker?.stopNow() }

        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        // Fail fast (before any load) when the broker cannot be reached.
        do {
            let probe = try MQTTClient(configuration: endpoint.clientConfiguration(id: "sealbench-\(runID)-probe"))
            try await probe.connect()
            await probe.disconnect()
        } catch {
            throw BenchError(.brokerUnavailable, "cannot connect to \(endpoint.host):\(endpoint.port): \(error)")
        }

        var segments: [SegmentPlan] = []
        let rounds = configuration.rounds
        let roundStop: BenchStop
        switch configuration.stop {
        case .count(let total): roundStop = .count(Swift.max((total + rounds - 1) / rounds, 1))
        case .duration(let duration): roundStop = .duration(duration / rounds)
        }
        for _ in 0..<rounds {
            for size in configuration.sizes {
                for mode in configuration.modes {
                    segments.append(
                        SegmentPlan(
                            mode: mode, size: size, workers: configuration.workerCount, load: configuration.load,
                            stop: roundStop, presealed: false, label: mode.rawValue))
                }
            }
        }
        if configuration.verifyScaling {
            // Interleaved like the modes: 1 worker, 2 workers, 1 worker, ... so drift hits both alike.
            let perRound = Swift.max((configuration.verifyScalingCount + rounds - 1) / rounds, 1)
            for _ in 0..<rounds {
                for workers in [1, 2] {
                    segments.append(
                        SegmentPlan(
                            mode: .sign, size: configuration.sizes[0], workers: workers,
                            load: .maximum(window: 4000), stop: .count(perRound), presealed: true,
                            label: "verify-scaling/\(workers)w"))
                }
            }
        }

        let signed = configuration.modes.contains { $0.isSigned }
        var signatureCosts: (sign: Double, verify: Double)?
        if signed && configuration.modes.contains(.plaintext) {
            // Measured before any load, in this process: the raw costs the signed ceiling is computed from.
            signatureCosts =
                (try? BenchSignedCeiling.measureSignatureCosts(messageBytes: configuration.sizes[0] + 40)) ?? nil
        }

        var scaling: [Int: Accumulator] = [:]
        var accumulated: [String: Accumulator] = [:]
        var order: [String] = []
        for (index, plan) in segments.enumerated() {
            let segment = Segment(
                plan: plan, configuration: configuration, endpoint: endpoint,
                topicBase: "\(configuration.topicPrefix)/\(runID)/\(index)", index: index, count: segments.count,
                progress: progress)
            let outcome = await segment.run()
            if plan.presealed {
                scaling[plan.workers ?? 0, default: Accumulator()].add(outcome)
            } else {
                let key = outcome.result.key
                if accumulated[key] == nil { order.append(key) }
                accumulated[key, default: Accumulator()].add(outcome)
            }
            if let failure = outcome.failure {
                result.complete = false
                result.error = failure
                break
            }
        }
        for key in order {
            guard let entry = accumulated[key], let merged = entry.result else { continue }
            result.modes.append(merged)
            result.series += entry.series
        }
        if let one = scaling[1]?.result, let two = scaling[2]?.result {
            result.verifyScaling = BenchVerifyScaling(
                mode: .sign, payloadBytes: one.payloadBytes, count: one.sent,
                oneWorkerMessagesPerSecond: one.messagesPerSecond, twoWorkersMessagesPerSecond: two.messagesPerSecond,
                ratio: one.messagesPerSecond > 0 ? two.messagesPerSecond / one.messagesPerSecond : 0, target: 1.6,
                lostOrRejected: one.lost + one.verificationFailures + two.lost + two.verificationFailures,
                method:
                    "sign-only envelopes sealed before the run, published raw at maximum rate over "
                    + "\(configuration.publishers * configuration.topicsPerPublisher) topics; the subscriber's "
                    + "SealedMQTTClient verifies with workerCount 1 and 2, interleaved in \(rounds) round(s); "
                    + "rate = verified deliveries per second")
        }
        result.computeRatios()
        if let signatureCosts,
            let plain = result.modes.first(where: { $0.mode == .plaintext && $0.payloadBytes == configuration.sizes[0] }
            )
        {
            let ceiling = BenchSignedCeiling(
                sign: signatureCosts.sign, verify: signatureCosts.verify, plaintext: plain,
                cores: environment.cores)
            result.signedCeiling = ceiling
            for index in result.modes.indices where result.modes[index].mode.isSigned {
                result.modes[index].ceilingRatio =
                    ceiling.messagesPerSecond > 0
                    ? result.modes[index].messagesPerSecond / ceiling.messagesPerSecond : nil
            }
        }
        return result
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}

/// Sums the rounds of one (mode, size).
struct Accumulator {
    var result: BenchModeResult?
    var histogram: Histogram<UInt64>?
    var pacer: Histogram<UInt64>?
    var series: [BenchSeriesPoint] = []
    var cpu: Double = 0
    var spin: Double?
    var brokerCPU: Double?

    mutating func add(_ outcome: Segment.Outcome) {
        let new = outcome.result
        let offset = series.count
        series += outcome.series.map { point in
            var point = point
            point.second += offset
            return point
        }
        cpu += outcome.cpuMicroseconds
        if let other = outcome.pacerSpinMicroseconds { spin = (spin ?? 0) + other }
        if let broker = outcome.brokerCPUMicroseconds { brokerCPU = (brokerCPU ?? 0) + broker }
        if let other = outcome.histogram {
            if histogram == nil { histogram = other } else { histogram?.add(other) }
        }
        if let other = outcome.pacer {
            if pacer == nil { pacer = other } else { pacer?.add(other) }
        }
        guard var merged = result else {
            result = new
            return
        }
        merged.complete = merged.complete && new.complete
        merged.sent += new.sent
        merged.expected += new.expected
        merged.delivered += new.delivered
        merged.lost += new.lost
        merged.duplicates += new.duplicates
        merged.reordered += new.reordered
        merged.verificationFailures += new.verificationFailures
        merged.seconds += new.seconds
        merged.messagesPerSecond = merged.seconds > 0 ? Double(merged.delivered) / merged.seconds : 0
        merged.megabytesPerSecond = merged.messagesPerSecond * Double(merged.payloadBytes) / 1e6
        if let histogram, histogram.totalCount > 0 { merged.latencyMicroseconds = BenchLatency(histogram) }
        merged.pacerLatenessMicroseconds = pacer.map(BenchLatency.init)
        if merged.delivered > 0 {
            merged.cpuMicrosecondsPerMessage = cpu / Double(merged.delivered)
            merged.pacerSpinMicrosecondsPerMessage = spin.map { $0 / Double(merged.delivered) }
            merged.brokerCPUMicrosecondsPerMessage = brokerCPU.map { $0 / Double(merged.delivered) }
        }
        result = merged
    }
}

extension BenchConfiguration {
    /// The configuration as recorded in the result.
    var summary: BenchConfigurationSummary {
        var summary = BenchConfigurationSummary(
            modes: modes, qos: qos, sizes: sizes, publishers: publishers, subscribers: subscribers,
            sharedGroup: sharedGroup, topicsPerPublisher: topicsPerPublisher, load: "max", targetRate: nil,
            window: nil, count: nil, durationSeconds: nil, warmupCount: warmupCount, workerCount: workerCount,
            rounds: rounds, broker: "local")
        switch load {
        case .rate(let rate):
            summary.load = "rate"
            summary.targetRate = rate
        case .maximum(let window):
            summary.window = window
        }
        switch stop {
        case .count(let count): summary.count = count
        case .duration(let duration): summary.durationSeconds = duration.seconds
        }
        if case .external = broker { summary.broker = "external" }
        return summary
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// How to reach the broker.
struct Endpoint: Sendable {
    let host: String
    let port: Int
    let external: BenchExternalBroker?
    let brokerPID: Int32?

    func clientConfiguration(id: String) -> MQTTClientConfiguration {
        var tls: MQTTTLSOptions?
        if let external, external.tls {
            var options = MQTTTLSOptions(
                caFile: external.caFile, certificateFile: external.certificateFile, privateKeyFile: external.keyFile)
            options.verifiesHostname = !external.insecure
            tls = options
        }
        var configuration = MQTTClientConfiguration(
            host: host, port: port, clientID: id, keepAlive: .seconds(30), username: external?.username,
            password: external?.password, tls: tls)
        configuration.reconnect = .disabled
        configuration.connectTimeout = .seconds(5)
        var logger = Logger(label: "sealbench.mqtt")
        logger.logLevel = .critical
        configuration.logger = logger
        return configuration
    }
}

/// One segment to measure.
struct SegmentPlan: Sendable {
    let mode: BenchMode
    let size: Int
    let workers: Int?
    let load: BenchLoad
    let stop: BenchStop
    /// Seal every envelope before the measurement and publish them raw (verify scaling: the publishers' signing
    /// cost is kept out of the measured window).
    let presealed: Bool
    let label: String
}

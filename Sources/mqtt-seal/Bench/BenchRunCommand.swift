import ArgumentParser
import Foundation
import SealBench
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mqtt-seal bench run`: one benchmark run.
struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the end-to-end benchmark (the default subcommand of bench).",
        discussion: """
            Modes (measured in this order for every size, each after its own warm-up): plaintext, \
            xchacha20poly1305, aes256gcm, xchacha20poly1305+ed25519, hmac-sha256, ed25519. Keys are made in \
            memory. Load is either an open-loop global --rate (latency from the intended send time) or --max \
            (each publisher keeps at most --window messages in transit). Each mode stops after --count messages \
            or --duration seconds. A progress line goes to stderr, the table to stdout.

            Exit status: 0 done; 64 invalid options (nothing started); 74 the broker could not be reached, or \
            was lost during the run (the report is then partial and the JSON has "complete": false).
            """
    )

    @Option(help: "Comma-separated modes (default: all). Aliases: plain, xchacha, aes, encrypt+sign, mac, sign.")
    var modes: String?

    @Option(help: "MQTT QoS: 0, 1 or 2.")
    var qos: Int = 0

    @Option(help: "Comma-separated payload sizes in bytes (at least 20: the payload embeds sequence and timestamp).")
    var sizes: String = "64"

    @Option(help: "Publisher clients, each its own connection (1 to 1000).")
    var publishers: Int = 1

    @Option(help: "Subscriber clients (each receives every message, unless --shared).")
    var subscribers: Int = 1

    @Option(help: "Subscribe as the shared-subscription group $share/GROUP/... (each message goes to one subscriber).")
    var shared: String?

    @Option(help: "Topics per publisher (order is checked per topic; several topics spread verification).")
    var topics: Int = 8

    @Option(help: "Open loop: global target rate in messages per second (not with --max).")
    var rate: Double?

    @Flag(help: "Maximum throughput (the default unless --rate is given).")
    var max = false

    @Option(help: "With --max: messages in transit per publisher at most.")
    var window: Int?

    @Option(help: "Messages per mode (default 100000 unless --duration).")
    var count: Int?

    @Option(help: "Seconds per mode (not with --count).")
    var duration: Double?

    @Option(help: "Warm-up messages before each mode (default: a tenth of --count, 100...5000).")
    var warmup: Int?

    @Option(help: "Repeat the mode sequence this many times, each round 1/N of the count or duration (interleaving).")
    var rounds: Int = 1

    @Option(help: "Verification workers of the sealed subscribers (default: the number of cores).")
    var workers: Int?

    @Flag(help: "Also measure ed25519 verification with 1 and 2 workers (target: 2 workers >= 1.6x).")
    var verifyScaling = false

    @Option(help: "Messages per verify-scaling run.")
    var verifyCount: Int = 60_000

    @Option(help: "Seconds to wait for messages still in transit after the last publish.")
    var drainTimeout: Double = 5

    @Option(help: "Use this broker instead of starting mosquitto on 127.0.0.1.")
    var host: String?

    @Option(help: "The broker's port (with --host; default 1883, 8883 with TLS options).")
    var port: Int?

    @Option(
        name: [.customShort("L"), .customLong("url")],
        help: ArgumentHelp(
            "Use this broker, as mqtt://[user[:password]@]HOST:PORT or mqtts://... with --cafile (instead of --host).",
            valueName: "url"))
    var url: String?

    @Option(help: "CA certificate (PEM): connect with TLS (with --host).")
    var cafile: String?

    @Option(help: "Client certificate (PEM) for TLS.")
    var cert: String?

    @Option(help: "Client private key (PEM) for TLS.")
    var key: String?

    @Flag(help: "TLS without hostname verification (the chain is still verified).")
    var insecure = false

    @Option(name: [.customShort("u"), .long], help: "User name (with --host).")
    var username: String?

    @Option(name: [.customShort("P"), .long], help: "Password (with --host).")
    var password: String?

    @Option(help: "Write the result as JSON (Specs/bench-result.schema.json).")
    var json: String?

    @Option(help: "Write a chart of throughput and latency percentiles as SVG.")
    var svg: String?

    @Option(help: "Write the per-second series as CSV (second,mode,size,sent,delivered,p99_us).")
    var csv: String?

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validate() throws {
        _ = try makeConfiguration()
    }

    /// The library configuration; a `ValidationError` (exit 64) for anything invalid.
    func makeConfiguration() throws -> BenchConfiguration {
        if rate != nil && max { throw ValidationError("--rate and --max exclude each other") }
        if count != nil && duration != nil { throw ValidationError("--count and --duration exclude each other") }
        if window != nil && rate != nil { throw ValidationError("--window applies to --max only") }
        var (host, port, username, password) = (self.host, self.port, self.username, self.password)
        if let url {
            if host != nil || port != nil { throw ValidationError("-L names the broker; leave out --host and --port") }
            let location: BrokerURL
            do {
                location = try BrokerURL.plainTCP(url, tool: "bench", allowsTLS: true)
            } catch {
                throw ValidationError(error.message)
            }
            if !location.topic.isEmpty {
                throw ValidationError("-L: bench picks its own topics; give mqtt://HOST:PORT")
            }
            if location.scheme.usesTLS && cafile == nil { throw ValidationError("-L mqtts:// needs --cafile") }
            if location.username != nil && username != nil { throw ValidationError("-L has a user name; leave out -u") }
            (host, port) = (location.host, location.port)
            username = username ?? location.username
            password = password ?? location.password
        }
        if host == nil {
            if port != nil || cafile != nil || cert != nil || key != nil || insecure || username != nil
                || password != nil
            {
                throw ValidationError("--port, TLS options and -u/-P need --host (an external broker)")
            }
        }
        let modeList: [BenchMode]
        if let modes {
            modeList = try modes.split(separator: ",", omittingEmptySubsequences: false).map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                guard let mode = BenchMode(name: trimmed) else {
                    throw ValidationError(
                        "unknown mode '\(trimmed)'; use \(BenchMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return mode
            }
        } else {
            modeList = BenchMode.allCases
        }
        let sizeList = try sizes.split(separator: ",", omittingEmptySubsequences: false).map { text in
            guard let size = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--sizes: '\(text)' is not a number")
            }
            return size
        }
        let stop: BenchStop
        if let duration {
            guard duration.isFinite, duration > 0, duration <= 600 else {
                throw ValidationError("--duration must be more than 0 and at most 600 seconds")
            }
            stop = .duration(.milliseconds(Int64(duration * 1000)))
        } else {
            stop = .count(count ?? 100_000)
        }
        guard drainTimeout.isFinite, drainTimeout > 0, drainTimeout <= 60 else {
            throw ValidationError("--drain-timeout must be more than 0 and at most 60 seconds")
        }
        let broker: BenchBroker
        if let host {
            let tls = cafile != nil || cert != nil || key != nil || insecure
            broker = .external(
                BenchExternalBroker(
                    host: host, port: port ?? (tls ? 8883 : 1883), username: username, password: password, tls: tls,
                    caFile: cafile, certificateFile: cert, keyFile: key, insecure: insecure))
        } else {
            broker = .local
        }
        let configuration = BenchConfiguration(
            modes: modeList, qos: qos, sizes: sizeList, publishers: publishers, subscribers: subscribers,
            sharedGroup: shared, topicsPerPublisher: topics,
            load: rate.map { .rate($0) } ?? .maximum(window: window ?? 2000), stop: stop, warmupCount: warmup,
            rounds: rounds,
            workerCount: workers, verifyScaling: verifyScaling, verifyScalingCount: verifyCount, broker: broker,
            drainTimeout: .milliseconds(Int64(drainTimeout * 1000)))
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        return configuration
    }

    func run() async throws {
        try await runReportingFailures {
            let configuration = try makeConfiguration()
            let reporter = ProgressReporter(enabled: !quiet)
            let result: BenchResult
            do {
                result = try await BenchRunner(configuration: configuration).run { reporter.report($0) }
            } catch let error as BenchError {
                reporter.finish()
                switch error.code {
                case .invalidConfiguration: throw CLIFailure(.usage, "bench: \(error.message)")
                default: throw CLIFailure(.ioError, "bench: \(error.message)")
                }
            }
            reporter.finish()
            print(BenchReport.table(result), terminator: "")
            try write(result)
            if !result.complete {
                throw CLIFailure(
                    .ioError,
                    "bench: \(result.error ?? "the run ended early"); partial report"
                        + (json != nil ? " written with \"complete\": false" : ""))
            }
        }
    }

    func write(_ result: BenchResult) throws {
        func save(_ data: Data, to path: String) throws {
            let url = URL(fileURLWithPath: path)
            do {
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: url, options: .atomic)
            } catch {
                throw CLIFailure(.ioError, "bench: cannot write \(path): \(error.localizedDescription)")
            }
        }
        if let json { try save(try BenchReport.json(result), to: json) }
        if let svg { try save(Data(BenchReport.svg(result).utf8), to: svg) }
        if let csv { try save(Data(BenchReport.csv(result).utf8), to: csv) }
    }
}

/// The progress line on stderr: rewritten in place (carriage return) when stderr is a terminal, otherwise one
/// line per second.
final class ProgressReporter: Sendable {
    let enabled: Bool
    let isTerminal: Bool
    private let state = Mutex<(lastLine: Double, shown: Bool)>((0, false))

    init(enabled: Bool) {
        self.enabled = enabled
        self.isTerminal = isatty(STDERR_FILENO) == 1
    }

    func report(_ progress: BenchProgress) {
        guard enabled else { return }
        let now = Date().timeIntervalSince1970
        if isTerminal {
            writeError("\r\u{1B}[K" + progress.line)
            state.withLock { $0.shown = true }
        } else {
            let due = state.withLock { state -> Bool in
                guard now - state.lastLine >= 1 else { return false }
                state.lastLine = now
                return true
            }
            if due { writeError(progress.line + "\n") }
        }
    }

    func finish() {
        guard enabled, isTerminal else { return }
        if state.withLock({ $0.shown }) { writeError("\r\u{1B}[K") }
    }

    private func writeError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

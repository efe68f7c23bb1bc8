import ArgumentParser
import Foundation
import LocalBroker
import MQTT
import Seal

/// `mqtt-seal bench-mqtt`: plaintext MQTT throughput, publisher -> mosquitto -> subscriber on loopback.
struct BenchMQTTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-mqtt",
        abstract: "Measure plaintext MQTT throughput: publisher -> mosquitto -> subscriber, on loopback.",
        discussion: """
            Starts its own mosquitto on a free 127.0.0.1 port (unless --host is given), connects one publisher \
            and one subscriber client of this package, and for every combination of --qos and --size \
            publishes --count messages as fast as the client allows (QoS 1/2 pipelined up to --max-inflight \
            unacknowledged messages). Each payload carries its sequence number, so the subscriber counts \
            lost and duplicated messages. A run stops publishing at --time-limit and waits at most 3 s for \
            the last messages after the publisher is done. Rates are received messages per second from the \
            first publish to the last arrival; MB/s counts payload bytes (10^6). Build with -c release for \
            meaningful figures. Each run ends with one machine-readable `result` line.

            --sealed SUITES also measures the sealed path the same way: after each plaintext run, one run per \
            suite with the sealed client of this package on both sides (a fresh in-memory key, unsigned), \
            against the same broker, so the sealed and the plaintext rates come from one loop and one \
            broker configuration (the `result` line names the mode).

            Exit codes: 0 measured; 64 usage; 74 the broker could not be started or reached, or a client \
            failed; 77 the broker refused the connection.
            """,
        helpNames: [.long]
    )

    @Option(name: [.customShort("h"), .long], help: "Use this broker instead of starting mosquitto.")
    var host: String?

    @Option(name: [.customShort("p"), .long], help: "The broker's port (with --host).")
    var port: String = "1883"

    @Option(
        name: [.customShort("L"), .customLong("url")],
        help: ArgumentHelp("Use this broker, as mqtt://HOST:PORT (instead of --host and --port).", valueName: "url"))
    var url: String?

    @Option(name: [.customShort("q"), .long], help: "QoS levels to measure, comma-separated (0,1,2).")
    var qos: String = "0"

    @Option(name: [.customShort("s"), .long], help: "Payload sizes in bytes, comma-separated (1-1048576).")
    var size: String = "64"

    @Option(name: [.customShort("C"), .long], help: "Messages per run (1-10000000).")
    var count: String = "200000"

    @Option(help: "Seconds after which a run stops publishing (1-600).")
    var timeLimit: String = "60"

    @Option(
        name: [.customShort("V"), .customLong("protocol-version")],
        help: "The MQTT version: mqttv311 (or 311) or mqttv5 (or 5).")
    var protocolVersion: String = "mqttv311"

    @Option(
        help: """
            QoS 1/2 messages in flight per client (1-65535); also mosquitto's max_inflight_messages when \
            bench-mqtt starts it. mosquitto's default is 20.
            """)
    var maxInflight: String = "20"

    @Option(
        help: """
            mosquitto's max_queued_messages when bench-mqtt starts it (0 = unlimited). mosquitto's default \
            is 1000; a subscriber that falls further behind loses QoS 1/2 messages there.
            """)
    var maxQueued: String = "1000"

    @Option(
        help: ArgumentHelp(
            "Also run every QoS 1/2 case with the publisher's session store in this folder (write, then sync).",
            valueName: "folder"))
    var store: String?

    @Option(
        help: ArgumentHelp(
            "Also measure sealed, after each plaintext run: comma-separated xchacha20poly1305, aes256gcm, hmac-sha256.",
            valueName: "suites"))
    var sealed: String?

    func run() async throws {
        try await runReportingFailures {
            let plan = try makePlan()
            var broker: LocalBroker?
            let endpoint: (host: String, port: Int)
            if let url {
                if host != nil || port != "1883" {
                    throw CLIFailure(.usage, "bench-mqtt: -L names the broker; leave out --host and --port")
                }
                let location = try BrokerURL.plainTCP(url, tool: "bench-mqtt")
                if !location.topic.isEmpty || location.username != nil {
                    throw CLIFailure(
                        .usage,
                        "bench-mqtt -L: give mqtt://HOST:PORT only (bench-mqtt picks its own topics and connects anonymously)"
                    )
                }
                endpoint = (location.host, location.port)
            } else if let host {
                endpoint = (host, try BrokerOptions.integer(port, flag: "--port", in: 1...65_535))
            } else {
                if port != "1883" { throw CLIFailure(.usage, "bench-mqtt: --port needs --host") }
                do {
                    let started = try await LocalBroker.start(
                        .init(maxInflightMessages: plan.maxInflight, maxQueuedMessages: plan.maxQueued))
                    broker = started
                    endpoint = (started.host, started.plainPort)
                } catch {
                    throw CLIFailure(.ioError, "bench-mqtt: cannot start mosquitto: \(BrokerOptions.detail(error))")
                }
            }
            let owner =
                broker.map { "own mosquitto, pid \($0.pid ?? 0), max_inflight_messages \(plan.maxInflight)" }
                ?? "external"
            print("bench-mqtt  broker \(endpoint.host):\(endpoint.port) (\(owner))")
            do {
                for qos in plan.qosLevels {
                    for size in plan.sizes {
                        // Without and with the store alternate against the same broker, in one run.
                        let modes: [MQTTThroughput.StoreMode] =
                            plan.storeFolder != nil && qos != .atMostOnce ? [.none, .write, .sync] : [.none]
                        for mode in modes {
                            var run = MQTTThroughput(
                                host: endpoint.host, port: endpoint.port, plan: plan, qos: qos, size: size)
                            run.store = mode
                            try await run.run().report()
                        }
                        for suite in plan.sealedSuites {
                            var run = MQTTThroughput(
                                host: endpoint.host, port: endpoint.port, plan: plan, qos: qos, size: size)
                            run.sealing = suite
                            try await run.run().report()
                        }
                    }
                }
            } catch {
                if let broker { await broker.stop() }
                throw error
            }
            if let broker { await broker.stop() }
        }
    }

    private func makePlan() throws(CLIFailure) -> MQTTThroughput.Plan {
        var levels: [MQTTQoS] = []
        for item in qos.split(separator: ",", omittingEmptySubsequences: false) {
            levels.append(try BrokerOptions.qos(String(item), flag: "--qos"))
        }
        var sizes: [Int] = []
        for item in size.split(separator: ",", omittingEmptySubsequences: false) {
            sizes.append(try BrokerOptions.integer(String(item), flag: "--size", in: 1...1_048_576))
        }
        let queued = try BrokerOptions.integer(maxQueued, flag: "--max-queued", in: 0...100_000_000)
        var suites: [Suite] = []
        if let sealed {
            if store != nil { throw CLIFailure(.usage, "bench-mqtt: --sealed and --store cannot be combined") }
            let symmetric: [Suite] = [.xchacha20poly1305, .aes256gcm, .hmacSHA256]
            for item in sealed.split(separator: ",", omittingEmptySubsequences: false) {
                guard let suite = Suite(rawValue: String(item)), symmetric.contains(suite) else {
                    throw CLIFailure(
                        .usage,
                        "bench-mqtt --sealed: unknown suite '\(item)'; use xchacha20poly1305, aes256gcm or hmac-sha256")
                }
                guard !suites.contains(suite) else {
                    throw CLIFailure(.usage, "bench-mqtt --sealed: \(suite.rawValue) is listed twice")
                }
                suites.append(suite)
            }
        }
        var plan = MQTTThroughput.Plan(
            version: try BrokerOptions.protocolVersion(protocolVersion),
            qosLevels: levels, sizes: sizes,
            count: try BrokerOptions.integer(count, flag: "--count", in: 1...10_000_000),
            timeLimit: .seconds(try BrokerOptions.integer(timeLimit, flag: "--time-limit", in: 1...600)),
            maxInflight: try BrokerOptions.integer(maxInflight, flag: "--max-inflight", in: 1...65_535),
            maxQueued: queued, storeFolder: store)
        plan.sealedSuites = suites
        return plan
    }
}

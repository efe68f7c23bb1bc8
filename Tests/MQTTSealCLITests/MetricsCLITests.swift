import Foundation
import LocalBroker
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `mqtt-seal sub --metrics-port`: the sealed client's swift-metrics counters as Prometheus text, scraped with a
/// real HTTP client (URLSession) while forged messages arrive.
@Suite("mqtt-seal sub --metrics-port", .serialized)
struct MetricsCLITests {
    static func scrape(_ port: Int, path: String = "/metrics") async throws -> (status: Int, body: String) {
        let url = try #require(URL(string: "http://127.0.0.1:\(port)\(path)"))
        let (data, response) = try await URLSession.shared.data(from: url)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// The value of one sample line (`name{labels} value`), or nil when the series is absent.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func forgedMessagesMoveTheRejectionCounter() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let endpoint = ["-h", broker.host, "-p", "\(broker.plainPort)"]
        let port = try LocalBroker.freePorts(count: 1)[0]
        let sub = try BackgroundCLI(
            ["sub", "-d"] + workspace.flags + endpoint
                + ["-t", "m/#", "-q", "1", "-C", "2", "-W", "30", "--metrics-port", "\(port)"])
        try await sub.waitFor(stderr: "subscribed to")

        let before = try await Self.scrape(port)
        #expect(before.status == 200)
        #expect(Self.sample(before.body, "mqtt_seal_rejected_total{reason=\"malformed\"}") == nil)

        // Three forged messages (not envelopes) from an independent peer, then one sealed message.
        for index in 0..<3 {
            #expect(try await broker.publishWithCLI(topic: "m/forged", message: "forged \(index)").exitStatus == 0)
        }
        #expect(try workspace.run(["pub"] + endpoint + ["-t", "m/ok", "-q", "1", "-m", "genuine"]).status == 0)
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while !sub.out.contains("genuine"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await sub.waitFor(stderr: "rejected m/forged")

        let after = try await Self.scrape(port)
        #expect(after.status == 200)
        #expect(Self.sample(after.body, "mqtt_seal_rejected_total{reason=\"malformed\"}") == 3, "\(after.body)")
        #expect(Self.sample(after.body, "mqtt_seal_delivered_total") == 1, "\(after.body)")
        #expect(after.body.contains("mqtt_seal_open_duration_seconds"), "\(after.body)")
        let elsewhere = try await Self.scrape(port, path: "/")
        #expect(elsewhere.status == 404)

        #expect(try workspace.run(["pub"] + endpoint + ["-t", "m/ok", "-q", "1", "-m", "second"]).status == 0)
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
    }

    @Test func metricsNeedAKeyringAndAValidPort() throws {
        let plain = try CLIRunner.run(["sub", "--plain", "-t", "m", "--metrics-port", "9100", "-p", "1"])
        #expect(plain.status == 64)
        #expect(plain.err.contains("--metrics-port need a keyring"))
        let workspace = try KeyringWorkspace()
        let bad = try workspace.run(["sub", "-t", "m", "--metrics-port", "0", "-p", "1"])
        #expect(bad.status == 64)
        #expect(bad.err.hasPrefix("mqtt-seal: --metrics-port "), "\(bad.err)")
    }
}

/// `mqtt-seal fleet serve --metrics-port`: the authority service's counters, scraped while forged reports arrive.
@Suite("mqtt-seal fleet serve --metrics-port", .serialized)
struct FleetServeMetricsCLITests {
    @Test func forgedReportsMoveTheRefusedCounter() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let work = try FleetCLITests.Workspace()
        _ = try work.initialise()
        let port = try LocalBroker.freePorts(count: 1)[0]
        let serve = try BackgroundCLI(
            ["fleet", "serve", "-d", "--metrics-port", "\(port)"] + work.authority + SealedPubSubTests.endpoint(broker))
        try await serve.waitFor(stderr: "connected to")
        let before = try await MetricsCLITests.scrape(port)
        #expect(before.status == 200)
        #expect((MetricsCLITests.sample(before.body, "mqtt_seal_fleet_refused_total") ?? 0) == 0)

        // Reports that are not signed fleet reports, from an independent peer, until the service has counted one
        // (its subscription may not be in place yet when the first arrives).
        var refused = 0.0
        for index in 0..<100 where refused == 0 {
            let sent = try await broker.publishWithCLI(topic: "seal/v1/ack/intruder", message: "forged \(index)")
            #expect(sent.exitStatus == 0)
            try await Task.sleep(for: .milliseconds(200))
            let scraped = try await MetricsCLITests.scrape(port)
            refused = MetricsCLITests.sample(scraped.body, "mqtt_seal_fleet_refused_total") ?? 0
        }
        #expect(refused >= 1)
        let after = try await MetricsCLITests.scrape(port)
        #expect(MetricsCLITests.sample(after.body, "mqtt_seal_fleet_acks_total") ?? 0 == 0, "\(after.body)")

        kill(serve.process.processIdentifier, SIGTERM)
        let status = try await serve.wait()
        #expect(status == 0, "exit \(status): \(serve.err)")
    }

    @Test func aBadMetricsPortIsAUsageError() throws {
        let work = try FleetCLITests.Workspace()
        _ = try work.initialise()
        let result = try CLIRunner.run(["fleet", "serve", "--metrics-port", "0", "-p", "1"] + work.authority)
        #expect(result.status == 64)
        #expect(result.err == "mqtt-seal: --metrics-port must be a whole number from 1 to 65535, not '0'\n")
    }
}

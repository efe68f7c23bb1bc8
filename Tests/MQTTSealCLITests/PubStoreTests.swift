import Foundation
import LocalBroker
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `pub -l -q 1 --store DIR`: a gateway that pipes readings into `mqtt-seal pub` survives being killed. A line
/// counts as accepted once `-d` reports it stored; after every SIGKILL a new `pub` with the same `-i` and `--store`
/// takes the rest of the input, and `mosquitto_sub` (an independent peer) must see every accepted line.
@Suite("mqtt-seal pub --store", .serialized)
struct PubStoreTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-seal-\(name)-\(UUID().uuidString)")
    }

    /// How many lines a `pub -d --store` run reported stored.
    static func storedLines(_ pub: BackgroundCLI) -> Int {
        pub.err.split(separator: "\n").filter { $0.hasPrefix("mqtt-seal pub: stored line ") }.count
    }

    @Test func killedPublishersLoseNoAcceptedLine() async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 0))
        defer { broker.stopNow() }
        let total = 20_000
        let lines = (0..<total).map { "reading-\($0)" }
        let subscriber = try await broker.subscribeWithCLI(
            topic: "gateway/readings", count: 10 * total, options: .init(qos: 1), timeout: .seconds(600))
        let store = Self.temporary("store")
        defer { try? FileManager.default.removeItem(at: store) }
        let arguments = [
            "pub", "--plain", "-h", broker.host, "-p", "\(broker.plainPort)", "-t", "gateway/readings", "-q", "1", "-l",
            "-c", "-i", "gateway-1", "--store", store.path, "-d",
        ]

        var next = 0
        var kills = 0
        var generator = SystemRandomNumberGenerator()
        while kills < 10 && next < total {
            let input = Self.temporary("input")
            defer { try? FileManager.default.removeItem(at: input) }
            try Data(lines[next...].map { $0 + "\n" }.joined().utf8).write(to: input)
            let pub = try BackgroundCLI(arguments, stdin: input)
            // Kill at a random count of stored lines (a count, not a time), spread over the stream.
            let target = Int.random(in: 1...max(1, (total - next) / 8), using: &generator)
            let deadline = ContinuousClock.now + .seconds(60)
            while Self.storedLines(pub) < target, pub.process.isRunning, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            #expect(pub.process.isRunning, "pub ended before it was killed: \(pub.err.suffix(300))")
            kill(pub.process.processIdentifier, SIGKILL)
            pub.process.waitUntilExit()
            #expect(pub.process.terminationReason == .uncaughtSignal)
            kills += 1
            // Lines reported stored are accepted; the next run starts after the last of them.
            next += Self.storedLines(pub)
        }
        #expect(kills == 10)
        // The last run takes the rest of the input, resends what the store still holds, and exits 0.
        let input = Self.temporary("input")
        defer { try? FileManager.default.removeItem(at: input) }
        try Data(lines[next...].map { $0 + "\n" }.joined().utf8).write(to: input)
        let last = try BackgroundCLI(arguments, stdin: input)
        #expect(try await last.wait(timeout: .seconds(120)) == 0, "stderr: \(last.err.suffix(500))")

        var received = Set<String>()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            received = Set(subscriber.messages.map(\.payload))
            if received.count >= total { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        await subscriber.stop()
        let missing = lines.filter { !received.contains($0) }
        #expect(missing.isEmpty, "lost \(missing.count) of \(total) lines, e.g. \(missing.prefix(5))")
    }

    @Test func storeFlagsAreCheckedBeforeAnythingConnects() throws {
        let store = Self.temporary("flags")
        defer { try? FileManager.default.removeItem(at: store) }
        let closedPort = ["-h", "127.0.0.1", "-p", "1"]
        let cases: [([String], String)] = [
            (["--store", store.path, "-i", "x"], "mqtt-seal: --store needs -c and a fixed client id (-i)\n"),
            (["--store", store.path, "-c"], "mqtt-seal: --store needs -c and a fixed client id (-i)\n"),
            (["-c"], "mqtt-seal: -c needs a fixed client id (-i): a random one cannot resume its session\n"),
            (["--no-store-sync"], "mqtt-seal: --no-store-sync needs --store\n"),
            (["-x", "60", "-c", "-i", "x"], "mqtt-seal: -x needs MQTT 5 (-V 5)\n"),
            (
                ["-x", "soon", "-V", "5"],
                "mqtt-seal: -x must be a whole number from 0 to 4294967295, not 'soon'\n"
            ),
        ]
        for (extra, message) in cases {
            let result = try CLIRunner.run(["pub", "--plain", "-t", "a", "-q", "1", "-m", "x"] + closedPort + extra)
            #expect(result.status == 64, "\(extra): \(result.err)")
            #expect(result.err == message)
        }
        #expect(!FileManager.default.fileExists(atPath: store.path))
    }

    @Test func aStoreKeptForAnotherClientIDIsRefusedWithExit73() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let store = Self.temporary("owned")
        defer { try? FileManager.default.removeItem(at: store) }
        let endpoint = ["-h", broker.host, "-p", "\(broker.plainPort)"]
        let first = try CLIRunner.run(
            ["pub", "--plain", "-t", "a", "-q", "1", "-m", "x", "-c", "-i", "owner", "--store", store.path] + endpoint)
        #expect(first.status == 0, "stderr: \(first.err)")
        let other = try CLIRunner.run(
            ["sub", "--plain", "-t", "a", "-q", "1", "-c", "-i", "intruder", "--store", store.path] + endpoint)
        #expect(other.status == 73)
        #expect(
            other.err
                == "mqtt-seal: --store: the session store \(store.path) belongs to client id \"owner\", not \"intruder\"\n"
        )
    }
}

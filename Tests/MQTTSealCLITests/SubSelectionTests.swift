import Foundation
import LocalBroker
import Testing

/// `sub -T`, `--retained-only` and `-E`, with mosquitto_pub as the independent publisher.
@Suite("mqtt-seal sub -T, --retained-only, -E", .serialized)
struct SubSelectionTests {
    static func endpoint(_ broker: LocalBroker) -> [String] { ["-h", broker.host, "-p", "\(broker.plainPort)"] }

    @Test func filteredOutTopicsAreNotPrintedNorCounted() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let sub = try BackgroundCLI(
            ["sub", "--plain", "-d"] + Self.endpoint(broker)
                + ["-t", "a/#", "-T", "a/skip/#", "-T", "a/+/noise", "-v", "-C", "2", "-W", "20"])
        try await sub.waitFor(stderr: "subscribed to")
        for (topic, text) in [
            ("a/skip/1", "no"), ("a/x/noise", "no"), ("a/1", "one"), ("a/skip", "no"), ("a/2", "two"),
        ] {
            #expect(try await broker.publishWithCLI(topic: topic, message: text).exitStatus == 0)
        }
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        // `a/skip/#` also matches `a/skip` itself (the parent level), as in MQTT; excluded messages do not count.
        #expect(sub.out == "a/1 one\na/2 two\n")
    }

    @Test func retainedOnlyPrintsTheRetainedMessagesAndStopsAtTheFirstLiveOne() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        for (topic, text) in [("r/1", "first"), ("r/2", "second")] {
            #expect(try await broker.publishWithCLI(topic: topic, message: text, retain: true).exitStatus == 0)
        }
        let sub = try BackgroundCLI(
            ["sub", "--plain", "-d"] + Self.endpoint(broker) + ["-t", "r/#", "--retained-only", "-v", "-W", "20"])
        try await sub.waitFor(stderr: "subscribed to")
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while sub.out.split(separator: "\n").count < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await broker.publishWithCLI(topic: "r/3", message: "live").exitStatus == 0)
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        #expect(Set(sub.out.split(separator: "\n")) == ["r/1 first", "r/2 second"])
    }

    @Test func exitOnceSubscribedLeavesAPersistentSessionThatKeepsMessages() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let session = ["-c", "-i", "session-maker", "-q", "1", "-t", "e/#"]
        let made = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + session + ["-E"], timeout: .seconds(20))
        #expect(made.status == 0, "\(made.err)")
        #expect(made.out.isEmpty)
        // Published while nobody is connected: the session made by -E keeps it.
        let published = try await broker.publishWithCLI(topic: "e/1", message: "kept", options: .init(qos: 1))
        #expect(published.exitStatus == 0)
        let later = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + session + ["-C", "1", "-W", "20"], timeout: .seconds(30))
        #expect(later.status == 0, "\(later.err)")
        #expect(later.out == "kept\n")
    }

    @Test func conflictingOrInvalidSelectionsAreUsageErrors() throws {
        let both = try CLIRunner.run(["sub", "--plain", "-t", "a", "-R", "--retained-only", "-p", "1"])
        #expect(both.status == 64)
        #expect(both.err == "mqtt-seal: sub: -R skips retained messages; --retained-only prints nothing else\n")
        let bad = try CLIRunner.run(["sub", "--plain", "-t", "a", "-T", "a/#/b", "-p", "1"])
        #expect(bad.status == 64)
        #expect(bad.err == "mqtt-seal: sub: invalid -T filter 'a/#/b': multi-level wildcard is not the last level\n")
        #expect(!bad.err.contains("hashNotLast"))
    }
}

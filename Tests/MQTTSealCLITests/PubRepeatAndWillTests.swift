import Foundation
import LocalBroker
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `pub --repeat/--repeat-delay` and the will flags of pub and sub (`--will-topic`, `--will-payload`,
/// `--will-qos`, `--will-retain`), as mosquitto's clients have them.
@Suite("mqtt-seal pub --repeat and the will flags", .serialized)
struct PubRepeatAndWillTests {
    static func endpoint(_ broker: LocalBroker) -> [String] { ["-h", broker.host, "-p", "\(broker.plainPort)"] }

    @Test func aSealedMessageRepeatedIsSealedAfreshEachTime() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let sub = try BackgroundCLI(
            ["sub", "-d"] + workspace.flags + Self.endpoint(broker) + ["-t", "rep", "-q", "1", "-C", "3", "-W", "20"])
        try await sub.waitFor(stderr: "subscribed to")
        let pub = try workspace.run(
            ["pub"] + Self.endpoint(broker)
                + ["-t", "rep", "-q", "1", "-m", "again", "--repeat", "3", "--repeat-delay", "0.05"])
        #expect(pub.status == 0, "\(pub.err)")
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        // Three envelopes, each with its own sequence number: none is taken for a replay.
        #expect(sub.out == "again\nagain\nagain\n")
        #expect(!sub.err.contains("rejected"))
    }

    @Test func repeatFlagsAreChecked() throws {
        let base = ["pub", "--plain", "-h", "127.0.0.1", "-p", "1", "-t", "t"]
        for (extra, message) in [
            (["-m", "x", "--repeat", "0"], "mqtt-seal: --repeat must be"),
            (["-m", "x", "--repeat-delay", "1"], "mqtt-seal: pub: --repeat-delay needs --repeat\n"),
            (["-m", "x", "--repeat", "2", "--repeat-delay", "-1"], "mqtt-seal: --repeat-delay takes seconds from 0"),
            (["-l", "--repeat", "2"], "mqtt-seal: pub: --repeat and --repeat-delay apply to one message"),
        ] {
            let result = try CLIRunner.run(base + extra)
            #expect(result.status == 64, "\(extra): \(result.err)")
            #expect(result.err.hasPrefix(message), "\(extra): \(result.err)")
        }
    }

    @Test func aSubKilledWithoutDisconnectLeavesItsWill() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        // An independent peer waits for the will.
        let watcher = try BackgroundCLI(
            ["sub", "--plain", "-d"] + Self.endpoint(broker) + [
                "-t", "status/#", "-q", "1", "-v", "-C", "1", "-W", "20",
            ])
        try await watcher.waitFor(stderr: "subscribed to")
        let dying = try BackgroundCLI(
            ["sub", "--plain", "-d"] + Self.endpoint(broker)
                + [
                    "-t", "work/#", "--will-topic", "status/gw-1", "--will-payload", "offline", "--will-qos", "1",
                    "--will-retain",
                ])
        try await dying.waitFor(stderr: "subscribed to")
        kill(dying.process.processIdentifier, SIGKILL)
        #expect(try await watcher.wait() == 0, "stderr: \(watcher.err)")
        #expect(watcher.out == "status/gw-1 offline\n")
        // Retained: a later subscriber sees it too.
        let later = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + ["-t", "status/#", "-v", "-C", "1", "-W", "20"],
            timeout: .seconds(30))
        #expect(later.out == "status/gw-1 offline\n", "\(later.err)")
    }

    @Test func willFlagsAreChecked() throws {
        let base = ["sub", "--plain", "-h", "127.0.0.1", "-p", "1", "-t", "t"]
        for (extra, message) in [
            (["--will-payload", "x"], "mqtt-seal: --will-payload needs --will-topic\n"),
            (["--will-retain"], "mqtt-seal: --will-retain needs --will-topic\n"),
            (["--will-topic", "a/#"], "mqtt-seal: invalid --will-topic 'a/#': "),
            (["--will-topic", "a", "--will-qos", "3"], "mqtt-seal: --will-qos must be 0, 1 or 2, not '3'\n"),
        ] {
            let result = try CLIRunner.run(base + extra)
            #expect(result.status == 64, "\(extra): \(result.err)")
            #expect(result.err.hasPrefix(message), "\(extra): \(result.err)")
        }
    }
}

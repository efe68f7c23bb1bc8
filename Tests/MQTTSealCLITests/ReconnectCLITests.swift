import Foundation
import LocalBroker
import Testing

/// `mqtt-seal sub` rides out a broker restart by default (reconnect with backoff, the session resumed), as
/// `mosquitto_sub` does; `--no-reconnect` keeps the old exit 74 (tested in SealedPubSubTests).
@Suite("mqtt-seal sub reconnects", .serialized)
struct ReconnectCLITests {
    @Test func aPersistentQoS1SubscriberLosesNothingAcrossABrokerRestart() async throws {
        let broker = try await LocalBroker.start(.init(persistence: true))
        defer { broker.stopNow() }
        let endpoint = ["-h", broker.host, "-p", "\(broker.plainPort)"]
        let total = 100
        let sub = try BackgroundCLI(
            ["sub", "--plain", "-d"] + endpoint
                + ["-t", "plant/#", "-q", "1", "-c", "-i", "restart-sub", "-C", "\(total)", "-W", "60"])
        try await sub.waitFor(stderr: "subscribed to")

        func publish(_ range: ClosedRange<Int>) throws {
            let lines = range.map { "reading \($0)" }.joined(separator: "\n") + "\n"
            let pub = try CLIRunner.run(
                ["pub", "--plain"] + endpoint + ["-t", "plant/7", "-q", "1", "-l"], stdin: Data(lines.utf8))
            #expect(pub.status == 0, "pub: \(pub.err)")
        }
        try publish(1...50)
        // All 50 delivered (and acknowledged) before the restart: nothing is in flight when the broker stops.
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while sub.out.split(separator: "\n").count < 50, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(sub.out.split(separator: "\n").count == 50)

        try await broker.restart()
        // Published at once after the restart, before or while the subscriber reconnects: the broker keeps them
        // in the subscriber's persistent session.
        try publish(51...total)

        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        let lines = sub.out.split(separator: "\n").map(String.init)
        #expect(lines == (1...total).map { "reading \($0)" }, "lost \(Set(1...total).count - Set(lines).count)")
        // The subscriber did lose the connection and make it again.
        #expect(sub.err.contains("connection lost"), "stderr: \(sub.err)")
    }
}

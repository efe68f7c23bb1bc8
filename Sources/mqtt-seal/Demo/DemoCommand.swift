import ArgumentParser
import Foundation
import LocalBroker
import MQTT
import NIOCore
import Seal
import SealKeyring

/// `mqtt-seal demo`: the main job for a new user, end to end on this machine.
///
/// It starts its own mosquitto on a free loopback port (or uses `--host/--port`), creates a temporary
/// keyring, publishes signed and encrypted messages from one client to another, rotates the key in the
/// middle of the stream (both sides pick the new key up by hot reload), shows a tampered, a replayed and a
/// moved (wrong-topic) message being rejected, prints a summary, and cleans up.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a sealed pub/sub demo against a mosquitto it starts itself.",
        discussion: """
            Starts mosquitto on a free 127.0.0.1 port (unless --host is given), creates a temporary keyring \
            with an XChaCha20-Poly1305 key and an Ed25519 signing identity, publishes --count sealed messages \
            at QoS 1, rotates the key half-way, then replays, tampers with and re-routes a captured message. \
            Exits 0 when every genuine message arrived verified and every forged one was rejected, 1 otherwise.
            """
    )

    @Option(name: [.customShort("h"), .long], help: "Use this broker instead of starting mosquitto.")
    var host: String?

    @Option(name: [.customShort("p"), .long], help: "The broker's port (with --host).")
    var port: Int = 1883

    @Option(
        name: [.customShort("L"), .customLong("url")],
        help: ArgumentHelp(
            "Use this broker, as mqtt://HOST:PORT[/TOPIC-PREFIX] (instead of --host, --port, --topic-prefix).",
            valueName: "url"))
    var url: String?

    @Option(name: [.customShort("C"), .long], help: "How many genuine messages to publish (2-10000).")
    var count: Int = 20

    @Option(help: "The topic prefix the demo publishes under.")
    var topicPrefix: String = "demo/plant-7"

    func validate() throws {
        guard (2...10_000).contains(count) else { throw ValidationError("--count must be between 2 and 10000") }
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        if host == nil && port != 1883 { throw ValidationError("--port needs --host") }
    }

    func run() async throws {
        try await runReportingFailures {
            var (host, port, prefix) = (self.host, self.port, topicPrefix)
            if let url {
                if host != nil { throw CLIFailure(.usage, "demo: -L names the broker; leave out --host and --port") }
                let location = try BrokerURL.plainTCP(url, tool: "demo")
                if location.username != nil {
                    throw CLIFailure(.usage, "demo -L: the demo connects anonymously; leave out the user name")
                }
                (host, port) = (location.host, location.port)
                if !location.topic.isEmpty { prefix = location.topic }
            }
            let demo = try SealedDemo(count: count, topicPrefix: prefix)
            defer { demo.cleanUp() }
            let passed = try await demo.run(host: host, port: port)
            if !passed { throw CLIFailure(.authenticationFailure, "demo: the outcome was not as expected (see above)") }
        }
    }
}

import Foundation
import LocalBroker
import Testing

/// `-L` on `bench`, `bench-mqtt` and `demo`: the broker (and for `bench` the credentials) as one URL.
@Suite("mqtt-seal bench, bench-mqtt and demo with -L", .serialized)
struct URLOnToolsCLITests {
    @Test func demoRunsAgainstTheBrokerTheURLNames() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let result = try CLIRunner.run(
            ["demo", "-L", "mqtt://\(broker.host):\(broker.plainPort)/url-demo", "--count", "4"], timeout: .seconds(90))
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("published 4 genuine messages, verified 4, lost 0"))
        #expect(result.out.contains("url-demo/"), "\(result.out)")
        #expect(!result.out.contains("mosquitto started"))
    }

    @Test func benchMQTTUsesTheURLsBroker() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let result = try CLIRunner.run(
            ["bench-mqtt", "-L", "mqtt://\(broker.host):\(broker.plainPort)", "--count", "200", "--time-limit", "20"],
            timeout: .seconds(120))
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("broker \(broker.host):\(broker.plainPort) (external)"), "\(result.out)")
        #expect(result.out.contains("result"))
    }

    @Test func benchTakesTheBrokerAndCredentialsFromTheURL() async throws {
        let broker = try await LocalBroker.start(
            .init(users: [.init("bencher", password: "pw")], acl: .init(users: ["bencher": [.init(.readwrite, "#")]])))
        defer { broker.stopNow() }
        let result = try CLIRunner.run(
            [
                "bench", "-L", "mqtt://bencher:pw@\(broker.host):\(broker.plainPort)", "--modes", "plaintext",
                "--count", "300", "--warmup", "10", "--quiet",
            ], timeout: .seconds(120))
        #expect(result.status == 0, "\(result.err)")
        #expect(broker.log.contains("u'bencher'"), "\(broker.log)")
    }

    @Test func urlsTheToolsCannotUseAreRefused() throws {
        let cases: [([String], String)] = [
            (
                ["bench-mqtt", "-L", "ws://h:1/"],
                "bench-mqtt -L: bench-mqtt connects over TCP; use mqtt://HOST:PORT, not ws://"
            ),
            (
                ["bench-mqtt", "-L", "mqtts://h:1"],
                "bench-mqtt -L: bench-mqtt has no TLS options; use mqtt://HOST:PORT"
            ),
            (
                ["bench-mqtt", "-L", "mqtt://h:1/topic"],
                "bench-mqtt -L: give mqtt://HOST:PORT only (bench-mqtt picks its own topics and connects anonymously)"
            ),
            (["demo", "-L", "mqtt://h:1", "--host", "x"], "demo: -L names the broker; leave out --host and --port"),
            (["demo", "-L", "wss://h:1/x"], "demo -L: demo connects over TCP; use mqtt://HOST:PORT, not wss://"),
            (["bench", "-L", "mqtts://h:1"], "-L mqtts:// needs --cafile"),
            (["bench", "-L", "mqtt://h:1/t"], "-L: bench picks its own topics; give mqtt://HOST:PORT"),
        ]
        for (arguments, message) in cases {
            let result = try CLIRunner.run(arguments, timeout: .seconds(30))
            #expect(result.status == 64, "\(arguments)")
            #expect(result.err.contains(message), "\(arguments): \(result.err)")
        }
    }
}

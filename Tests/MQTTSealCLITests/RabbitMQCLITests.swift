import Foundation
import LocalBroker
import Testing

/// `mqtt-seal pub -q 2` against RabbitMQ, which answers QoS 2 with PUBACK: a clear line and exit 76, no hang.
@Suite("mqtt-seal against RabbitMQ", .serialized, .timeLimit(.minutes(3)))
struct RabbitMQCLITests {
    @Test func qos2PublishToRabbitMQExits76() async throws {
        let rabbit = try await LocalRabbitMQ.start()
        let endpoint = ["-h", rabbit.host, "-p", "\(rabbit.mqttPort)"]
        let downgraded = try CLIRunner.run(["pub", "--plain"] + endpoint + ["-q", "2", "-t", "r/t", "-m", "x"])
        let qos1 = try CLIRunner.run(["pub", "--plain"] + endpoint + ["-q", "1", "-t", "r/t", "-m", "x"])
        let lines = Array(repeating: "reading", count: 20).joined(separator: "\n") + "\n"
        let streamed = try CLIRunner.run(
            ["pub", "--plain"] + endpoint + ["-q", "2", "-t", "r/t", "-l"], stdin: Data(lines.utf8))
        let version5 = try CLIRunner.run(["pub", "--plain"] + endpoint + ["-V", "5", "-t", "r/t", "-m", "x"])
        await rabbit.stop()
        #expect(version5.status == 74)
        #expect(
            version5.err
                == "mqtt-seal: cannot connect to \(rabbit.host):\(rabbit.mqttPort): the broker closed the connection "
                + "before CONNACK (it may not support MQTT 5: try -V 311)\n")
        #expect(downgraded.status == 76, "stderr: \(downgraded.err)")
        #expect(
            downgraded.err.hasSuffix(
                "mqtt-seal: pub: publish to r/t: the broker at \(rabbit.host):\(rabbit.mqttPort) answered a QoS 2 "
                    + "publish with PUBACK: it took the message at QoS 1 at most (try -q 1)\n"),
            "stderr: \(downgraded.err)")
        #expect(qos1.status == 0, "stderr: \(qos1.err)")
        #expect(streamed.status == 76, "stderr: \(streamed.err)")
    }
}

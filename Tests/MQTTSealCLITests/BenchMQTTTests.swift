import Testing

/// `mqtt-seal bench-mqtt` with a tiny count: it runs, starts and stops its own broker, and prints its figures.
/// No timing assertions: the figures depend on the machine.
@Suite("mqtt-seal bench-mqtt", .serialized)
struct BenchMQTTTests {
    @Test func tinyRunPrintsOneResultLinePerCombination() throws {
        let result = try CLIRunner.run(
            ["bench-mqtt", "--count", "300", "--qos", "0,1,2", "--size", "8,100", "--time-limit", "20"],
            timeout: .seconds(120))
        #expect(result.status == 0, "stderr: \(result.err)")
        let out = result.out
        #expect(out.hasPrefix("bench-mqtt  broker 127.0.0.1:"))
        #expect(out.contains("own mosquitto"))
        let results = out.split(separator: "\n").filter { $0.hasPrefix("result ") }
        #expect(results.count == 6, "\(out)")
        for line in results {
            var fields: [String: String] = [:]
            for pair in line.dropFirst("result ".count).split(separator: " ") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            for key in ["qos", "size", "protocol", "sent", "received", "lost", "duplicates", "seconds", "msg_per_s"]
                + ["mb_per_s", "publish_msg_per_s"]
            {
                #expect(fields[key] != nil, "\(key) missing in \(line)")
            }
            #expect(fields["sent"] == "300", "\(line)")
            #expect(fields["protocol"] == "3.1.1")
            #expect(Double(fields["msg_per_s"] ?? "") != nil, "\(line)")
            #expect(Double(fields["mb_per_s"] ?? "") != nil, "\(line)")
            // QoS 1 and 2 with 300 messages stay far below mosquitto's queue limit: nothing may be lost.
            if fields["qos"] != "0" {
                #expect(fields["received"] == "300", "\(line)")
                #expect(fields["lost"] == "0", "\(line)")
            }
        }
        #expect(out.contains("msg/s"))
        #expect(out.contains("MB/s"))
    }

    @Test func externalBrokerThatIsNotThereExits74() throws {
        let result = try CLIRunner.run(["bench-mqtt", "--host", "127.0.0.1", "--port", "1", "--count", "10"])
        #expect(result.status == 74, "stderr: \(result.err)")
        #expect(result.err.hasPrefix("mqtt-seal: cannot connect to 127.0.0.1:1"), "stderr: \(result.err)")
        #expect(result.err.split(separator: "\n").count == 1)
    }
}

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

    /// `--sealed`: after each plaintext run one sealed run per suite, through the sealed client on both sides;
    /// at QoS 1 nothing may be lost or duplicated, and every envelope opened (the counts come from the payloads).
    @Test func sealedRunsFollowEachPlaintextRun() throws {
        let result = try CLIRunner.run(
            [
                "bench-mqtt", "--count", "400", "--qos", "1", "--size", "64", "--sealed",
                "xchacha20poly1305,hmac-sha256",
            ],
            timeout: .seconds(120))
        #expect(result.status == 0, "stderr: \(result.err)")
        let lines = result.out.split(separator: "\n").filter { $0.hasPrefix("result ") }
        #expect(
            lines.map { $0.split(separator: " ").last ?? "" } == [
                "mode=plaintext", "mode=xchacha20poly1305", "mode=hmac-sha256",
            ])
        for line in lines {
            #expect(line.contains(" received=400 ") && line.contains(" lost=0 ") && line.contains(" duplicates=0 "))
        }
        #expect(result.out.contains("sealed xchacha20poly1305"))
    }

    @Test(arguments: [
        (["--sealed", "ed25519"], "mqtt-seal: bench-mqtt --sealed: unknown suite 'ed25519'; use xchacha20poly1305"),
        (["--sealed", "aes256gcm,aes256gcm"], "mqtt-seal: bench-mqtt --sealed: aes256gcm is listed twice"),
        (["--sealed", "xchacha20poly1305", "--store", "/tmp"], "mqtt-seal: bench-mqtt: --sealed and --store cannot"),
    ])
    func sealedRefusesBadSuites(arguments: [String], message: String) throws {
        let result = try CLIRunner.run(["bench-mqtt", "--count", "10"] + arguments)
        #expect(result.status == 64, "stderr: \(result.err)")
        #expect(result.err.hasPrefix(message), "stderr: \(result.err)")
        #expect(result.err.split(separator: "\n").count == 1)
    }

    @Test func externalBrokerThatIsNotThereExits74() throws {
        let result = try CLIRunner.run(["bench-mqtt", "--host", "127.0.0.1", "--port", "1", "--count", "10"])
        #expect(result.status == 74, "stderr: \(result.err)")
        #expect(result.err.hasPrefix("mqtt-seal: cannot connect to 127.0.0.1:1"), "stderr: \(result.err)")
        #expect(result.err.split(separator: "\n").count == 1)
    }
}

import Testing

/// `mqtt-seal demo` end to end: its own mosquitto, a temporary keyring, rotation and three forgeries.
@Suite("mqtt-seal demo", .serialized)
struct DemoTests {
    @Test func demoVerifiesEveryMessageAcrossARotationAndRejectsTheForgeries() throws {
        let result = try CLIRunner.run(["demo", "--count", "12"], timeout: .seconds(90))
        #expect(result.status == 0, "stderr: \(result.err)")
        let out = result.out
        #expect(out.contains("published 12 genuine messages, verified 12, lost 0"))
        #expect(out.contains("rotation without loss: yes"))
        #expect(out.contains("forgeries rejected: 3 of 3"))
        #expect(out.contains("reason: replayed"))
        #expect(out.contains("result      OK"))
        // Rotation happened half-way: two different keys sealed the genuine messages.
        let keys = Set(
            out.split(separator: "\n").filter { $0.hasPrefix("publisher") }.compactMap {
                $0.split(separator: " ").last.map(String.init)
            })
        #expect(keys.count == 2)
    }

    @Test func demoRefusesBadArgumentsWithAUsageError() throws {
        let tooFew = try CLIRunner.run(["demo", "--count", "1"])
        #expect(tooFew.status == 64)
        #expect(tooFew.err.contains("--count must be between 2 and 10000"))
        let portWithoutHost = try CLIRunner.run(["demo", "--port", "1884"])
        #expect(portWithoutHost.status == 64)
        #expect(portWithoutHost.err.contains("--port needs --host"))
    }

    @Test func demoReportsAnUnreachableBrokerInOneLine() throws {
        // Port 1 on loopback: nothing listens there.
        let result = try CLIRunner.run(["demo", "--host", "127.0.0.1", "--port", "1"], timeout: .seconds(60))
        #expect(result.status == 74)
        #expect(result.err.hasPrefix("mqtt-seal: demo: cannot connect to the broker at 127.0.0.1:1"))
        #expect(result.err.split(separator: "\n").count == 1, "stderr: \(result.err)")
    }
}

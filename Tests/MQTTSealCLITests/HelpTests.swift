import Testing

@Suite("mqtt-seal help and usage")
struct HelpTests {
    @Test func rootHelpNamesTheTool() throws {
        let result = try CLIRunner.run(["--help"])
        #expect(result.status == 0)
        #expect(result.out.contains("OVERVIEW: End-to-end payload protection for MQTT."))
        #expect(result.out.contains("USAGE: mqtt-seal"))
    }

    @Test func unknownOptionIsAUsageError() throws {
        let result = try CLIRunner.run(["--no-such-flag"])
        #expect(result.status == 64)
        #expect(result.err.contains("Unknown option '--no-such-flag'"))
    }
}

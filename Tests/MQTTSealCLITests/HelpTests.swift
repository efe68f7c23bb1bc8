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

    /// The completion scripts the README documents: one per shell, naming the subcommands and the new flags.
    @Test func shellCompletionScriptsAreGenerated() throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try CLIRunner.run(["--generate-completion-script", shell])
            #expect(result.status == 0, "\(shell): \(result.err)")
            #expect(result.out.contains("mqtt-seal"), "\(shell)")
            #expect(result.out.contains("rewrap-retained"), "\(shell)")
        }
        let bash = try CLIRunner.run(["--generate-completion-script", "bash"])
        #expect(bash.out.contains("--remove-retained") && bash.out.contains("--url"))
    }
}

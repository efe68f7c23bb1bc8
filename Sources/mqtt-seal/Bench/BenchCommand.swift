import ArgumentParser

/// `mqtt-seal bench`: the end-to-end benchmark (`run`, the default) and the comparison of two result files.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure sealed MQTT end to end (throughput, latency, loss, CPU, overhead) and compare results.",
        discussion: """
            `mqtt-seal bench` (= `bench run`) measures every mode against a mosquitto it starts on 127.0.0.1, \
            or an external broker with --host. `mqtt-seal bench compare A.json B.json` compares two --json files.
            """,
        subcommands: [BenchRunCommand.self, BenchCompareCommand.self],
        defaultSubcommand: BenchRunCommand.self
    )
}

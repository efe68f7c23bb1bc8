import ArgumentParser

@main
struct MQTTSeal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-seal",
        abstract: "End-to-end payload protection for MQTT.",
        subcommands: [
            DemoCommand.self, BenchCommand.self,
        ]
    )
}

import ArgumentParser

@main
struct MQTTSeal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-seal",
        abstract: "End-to-end payload protection for MQTT.",
        subcommands: [
            KeysCommand.self, SealCommand.self, OpenCommand.self, PubCommand.self, SubCommand.self, DemoCommand.self,
            BenchCommand.self, BenchMQTTCommand.self,
        ]
    )
}

import ArgumentParser

#if canImport(Glibc)
import Glibc
private let exitProcess = Glibc.exit
#elseif canImport(Darwin)
import Darwin
private let exitProcess = Darwin.exit
#endif

@main
struct MQTTSeal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-seal",
        abstract: "End-to-end payload protection for MQTT.",
        subcommands: [
            KeysCommand.self, SealCommand.self, OpenCommand.self, PubCommand.self, SubCommand.self, DemoCommand.self,
            BenchCommand.self, BenchMQTTCommand.self, FleetCommand.self, DeviceCommand.self,
        ]
    )

    /// Refuses an argument that is not valid UTF-8 before parsing: Swift would replace the bad bytes with U+FFFD
    /// and `pub -t` would publish to a topic nobody asked for.
    static func main() async {
        for index in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) == nil else { continue }
            printError(
                "mqtt-seal: argument \(index) is not valid UTF-8 (topics, filters, ids and paths must be UTF-8 text)")
            exitProcess(ExitStatus.usage.rawValue)
        }
        await Self.main(nil)
    }
}

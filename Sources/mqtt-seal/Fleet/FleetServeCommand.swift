import ArgumentParser
import Foundation
import Logging
import MQTT
import SealFleet
import SealKeyring
import SealedMQTT
import ServiceLifecycle

struct FleetServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the authority service: record acks, answer slot requests (rate-limited), publish changes.",
        discussion: "Runs until SIGINT or SIGTERM; reconnects when the broker goes away."
    )

    @Option(help: ArgumentHelp("The most slot requests answered per second.", valueName: "n"))
    var rate: String = "50"

    @Option(
        help: ArgumentHelp(
            "Serve the service's counters (acks, answers, refused reports, slots published) as Prometheus text on "
                + "http://127.0.0.1:PORT/metrics.",
            valueName: "port"))
    var metricsPort: String?

    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var broker: BrokerOptions

    func run() async throws {
        try await runReportingFailures {
            let perSecond = try BrokerOptions.integer(rate, flag: "--rate", in: 1...100_000)
            try await MetricsEndpoint.serving(port: metricsPort) { try await serve(requestsPerSecond: perSecond) }
        }
    }

    private func serve(requestsPerSecond perSecond: Int) async throws {
        let store = FleetStore(path: keyring.keyring, credential: try keyring.credential())
        let topics: FleetTopics
        do throws(FleetError) {
            topics = try store.load().registry.topics
        } catch {
            throw CLIFailure(fleetError: error)
        }
        var resolved = try broker.resolve(role: "fleet-serve")
        resolved.configuration.reconnect = MQTTReconnectPolicy()
        let client = try await broker.connect(resolved, role: "fleet serve")
        let service = FleetAuthorityService(
            store: store, client: client, topics: topics, requestsPerSecond: perSecond,
            logger: BrokerOptions.logger(debug: broker.debug))
        let group = ServiceGroup(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "mqtt-seal.fleet.serve", factory: { _ in SwiftLogNoOpLogHandler() }))
        do {
            try await group.run()
        } catch {
            await client.disconnect()
            throw CLIFailure(.ioError, "fleet serve stopped: \(BrokerOptions.detail(error))")
        }
        await client.disconnect()
    }
}

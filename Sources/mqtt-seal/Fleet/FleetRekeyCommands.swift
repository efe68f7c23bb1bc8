import ArgumentParser
import Foundation
import MQTT
import SealFleet
import SealKeyring

/// The options of the commands that change keys in two phases: stage, wait for acks, promote.
struct RekeyOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Promote once this percentage of active devices acknowledged the staged keys.", valueName: "percent"))
    var minCoverage: String = "100"

    @Option(help: ArgumentHelp("Promote at the latest after this long (e.g. 60s, 5m).", valueName: "duration"))
    var deadline: String = "60s"

    @Option(
        help: ArgumentHelp(
            "Keep the old keys decrypt-only this long after promotion (0: destroy at once).", valueName: "duration"))
    var grace: String?

    struct Checked {
        let coverage: Double
        let deadline: Duration
        let grace: Duration
    }

    func checked(defaultGrace: Duration) throws(CLIFailure) -> Checked {
        Checked(
            coverage: try FleetArgument.percent(minCoverage, flag: "--min-coverage"),
            deadline: try FleetArgument.duration(deadline, flag: "--deadline"),
            grace: try grace.map { text throws(CLIFailure) in try FleetArgument.duration(text, flag: "--grace") }
                ?? defaultGrace)
    }

    /// Publishes the staged keys, waits for coverage or the deadline, promotes, publishes again, and prints one
    /// summary line.
    static func twoPhase(_ session: inout FleetSession, staged: [UInt32], checked: Checked) async throws(CLIFailure) {
        let clock = ContinuousClock()
        let start = clock.now
        try await session.publishChanges()
        let (staging, total) = try await session.waitForAcks(coverage: checked.coverage, deadline: checked.deadline)
        do throws(FleetError) {
            try session.authority.promote(staged, grace: checked.grace)
        } catch {
            throw CLIFailure(fleetError: error)
        }
        try await session.publishChanges()
        let remaining = checked.deadline - (clock.now - start)
        let (final, _) = try await session.waitForAcks(coverage: 100, deadline: max(remaining, .seconds(1)))
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "promoted \(staged.map(KeyringID.format).joined(separator: ",")) after \(staging)/\(total) acks; "
                + "\(final)/\(total) devices current; \(session.slotsPublished) slots, \(session.bytesPublished) bytes, "
                + String(format: "%.2f s", seconds))
    }
}

struct FleetRotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rotate the group keys: stage new keys, wait for acks, promote, keep the old ones for the grace."
    )

    @Option(help: ArgumentHelp("Rotate only the groups these filters cover (repeatable).", valueName: "filter"))
    var topics: [String] = []

    @OptionGroup var rekey: RekeyOptions
    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var publish: FleetPublishOptions

    func run() async throws {
        try await runReportingFailures {
            let filters = try FleetArgument.filters(topics, flag: "--topics")
            let checked = try rekey.checked(defaultGrace: .seconds(86_400))
            try await FleetSession.with(keyring, broker: publish.brokerIfOnline) { session in
                let staged: [UInt32]
                do throws(FleetError) {
                    staged = try session.authority.stageRotation(topics: filters.isEmpty ? nil : filters)
                } catch {
                    throw CLIFailure(fleetError: error)
                }
                guard !staged.isEmpty else { throw CLIFailure(.dataError, "no key group matches; nothing rotated") }
                try await RekeyOptions.twoPhase(&session, staged: staged, checked: checked)
            }
        }
    }
}

struct FleetRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a device: drop it from every roster, rekey every group it could read, clear its slot.",
        discussion: """
            Its signatures are refused as soon as each reader applies its next slot. Messages sealed after this \
            command returns do not open with anything the device holds.
            """
    )

    @Argument(help: ArgumentHelp("The device id.", valueName: "device"))
    var device: String

    @OptionGroup var rekey: RekeyOptions
    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var publish: FleetPublishOptions

    func run() async throws {
        try await runReportingFailures {
            let checked = try rekey.checked(defaultGrace: .seconds(60))
            try await FleetSession.with(keyring, broker: publish.brokerIfOnline) { session in
                let staged: [UInt32]
                do throws(FleetError) {
                    staged = try session.authority.revoke(device)
                } catch {
                    throw CLIFailure(fleetError: error)
                }
                try await RekeyOptions.twoPhase(&session, staged: staged, checked: checked)
            }
        }
    }
}

struct FleetStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Coverage per key from the acks, the devices behind, the devices silent.")

    @Option(help: ArgumentHelp("A device unheard of for this long is silent.", valueName: "duration"))
    var silentAfter: String = "24h"

    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var publish: FleetPublishOptions

    @Flag(help: "Print JSON ({\"keys\": [...], \"behind\": [...], \"silent\": [...]}, sorted keys).")
    var json = false

    /// `fleet status --json`.
    struct Status: Encodable {
        struct Key: Encodable {
            var kid: String
            var state: String
            var topics: [String]
            /// Devices that acknowledged a slot holding the key.
            var current: Int
            /// Devices entitled to it.
            var entitled: Int
        }
        var keys: [Key]
        var behind: [String]
        var silent: [String]
    }

    func run() async throws {
        try await runReportingFailures {
            let silence = try FleetArgument.duration(silentAfter, flag: "--silent-after")
            var session = try await FleetSession.open(keyring, broker: publish.brokerIfOnline)
            // Online, the retained acks refresh the registry first (for at most 2 s).
            _ = try await session.waitForAcks(coverage: 100, deadline: .seconds(2))
            let authority = session.authority
            let coverage = authority.keyCoverage()
            let behind = authority.devicesBehind
            let now = KeyringTime.seconds(Date())
            let silent = authority.registry.members.filter { member in
                member.state == .active && (member.lastSeen.map { now - $0 >= silence.components.seconds } ?? true)
            }
            await session.close()
            if json {
                let keys = coverage.map { key, current, entitled in
                    Status.Key(
                        kid: KeyringID.format(key.kid), state: "\(key.state)", topics: key.scope.filters.map(\.string),
                        current: current, entitled: entitled)
                }
                try JSONListing.write(
                    Status(keys: keys, behind: behind.map(\.device), silent: silent.map(\.device)))
                return
            }
            var lines = ["KEY\tSTATE\tTOPICS\tCOVERAGE"]
            for (key, current, entitled) in coverage {
                lines.append("\(KeyringID.format(key.kid))\t\(key.state)\t\(key.scope)\t\(current)/\(entitled)")
            }
            lines.append("behind \(behind.count): " + behind.map(\.device).joined(separator: ","))
            lines.append("silent \(silent.count): " + silent.map(\.device).joined(separator: ","))
            print(lines.joined(separator: "\n"))
        }
    }
}

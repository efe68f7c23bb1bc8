import ArgumentParser
import Foundation
import MQTT
import SealFleet
import SealKeyring

/// `mqtt-seal fleet`: the authority's side (Specs/fleet.md, README "Fleet runbook").
struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Enrol devices, grant topics, rotate and revoke keys across a fleet over MQTT.",
        subcommands: [
            FleetInitCommand.self, FleetEnrollCommand.self, FleetGrantCommand.self, FleetUngrantCommand.self,
            FleetListCommand.self, FleetRotateCommand.self, FleetRevokeCommand.self, FleetStatusCommand.self,
            FleetServeCommand.self, FleetBenchCommand.self, FleetBenchDevicesCommand.self,
        ]
    )
}

/// The broker flags of publishing fleet commands, and `--offline` to only change the files.
struct FleetPublishOptions: ParsableArguments {
    @Flag(help: "Change the files only; the slots go out with the next publishing command or fleet serve.")
    var offline = false

    @OptionGroup var broker: BrokerOptions

    var brokerIfOnline: BrokerOptions? { offline ? nil : broker }
}

/// `--read` and `--write` of `enroll` and `grant`.
struct GrantOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A topic filter the device may read (repeatable).", valueName: "filter"))
    var read: [String] = []

    @Option(help: ArgumentHelp("A topic filter the device may write, signed (repeatable).", valueName: "filter"))
    var write: [String] = []

    /// The validated read and write filters.
    func filters() throws(CLIFailure) -> (read: [TopicFilter], write: [TopicFilter]) {
        (try FleetArgument.filters(read, flag: "--read"), try FleetArgument.filters(write, flag: "--write"))
    }
}

struct FleetInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the authority keyring (an Ed25519 authority key) and its fleet registry.",
        discussion: "Prints the authority's public key: give it to `device init --authority`."
    )

    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var fleet: FleetPrefixOptions

    func run() async throws {
        try await runReportingFailures {
            let topics = try fleet.topics()
            let store = FleetStore(path: keyring.keyring, credential: try keyring.credential(confirm: true))
            do throws(FleetError) {
                let key = try store.create(topics: topics)
                print(Data(key).base64EncodedString())
            } catch {
                throw CLIFailure(fleetError: error)
            }
        }
    }
}

struct FleetEnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enrol a device from its request (a file, - for stdin, or the JSON itself) and publish the slots."
    )

    @Argument(help: ArgumentHelp("The enrolment request from device init.", valueName: "request"))
    var request: String

    @OptionGroup var grants: GrantOptions

    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var publish: FleetPublishOptions

    func run() async throws {
        try await runReportingFailures {
            let text: String
            if request.hasPrefix("{") {
                text = request
            } else if request == "-" {
                text = String(decoding: try StandardStreams.readAll(limit: 1 << 16), as: UTF8.self)
            } else {
                guard let data = FileManager.default.contents(atPath: request) else {
                    throw CLIFailure(.noInput, "cannot read the enrolment request \(request)")
                }
                text = String(decoding: data, as: UTF8.self)
            }
            let parsed: EnrolmentRequest
            do throws(FleetError) {
                parsed = try EnrolmentRequest.decode(text.trimmingCharacters(in: .whitespacesAndNewlines))
            } catch {
                throw CLIFailure(fleetError: error)
            }
            let (reads, writes) = try grants.filters()
            try await FleetSession.with(keyring, broker: publish.brokerIfOnline) { session in
                do throws(FleetError) {
                    try session.authority.enroll(parsed, read: reads, write: writes)
                } catch {
                    throw CLIFailure(fleetError: error)
                }
                try await session.publishChanges()
                print(parsed.device)
                printError("enrolled \(parsed.device) (signer \(KeyringID.format(parsed.sid)))")
            }
        }
    }
}

struct FleetGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant", abstract: "Add read or write grants to a device and publish the changed slots.")

    @Argument(help: ArgumentHelp("The device id.", valueName: "device"))
    var device: String

    @OptionGroup var grants: GrantOptions

    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var publish: FleetPublishOptions

    func run() async throws {
        try await runReportingFailures {
            let (reads, writes) = try grants.filters()
            guard !reads.isEmpty || !writes.isEmpty else { throw CLIFailure(.usage, "give --read or --write") }
            try await FleetSession.with(keyring, broker: publish.brokerIfOnline) { session in
                do throws(FleetError) {
                    try session.authority.grant(device, read: reads, write: writes)
                } catch {
                    throw CLIFailure(fleetError: error)
                }
                try await session.publishChanges()
            }
        }
    }
}

struct FleetUngrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ungrant",
        abstract: "Remove grants from a device; every group it can no longer read is rekeyed before this returns."
    )

    @Argument(help: ArgumentHelp("The device id.", valueName: "device"))
    var device: String

    @Option(help: ArgumentHelp("A read grant to remove (repeatable).", valueName: "filter"))
    var read: [String] = []

    @Option(help: ArgumentHelp("A write grant to remove (repeatable).", valueName: "filter"))
    var write: [String] = []

    @OptionGroup var rekey: RekeyOptions
    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var publish: FleetPublishOptions

    func run() async throws {
        try await runReportingFailures {
            let reads = try FleetArgument.filters(read, flag: "--read")
            let writes = try FleetArgument.filters(write, flag: "--write")
            guard !reads.isEmpty || !writes.isEmpty else { throw CLIFailure(.usage, "give --read or --write") }
            let checked = try rekey.checked(defaultGrace: .seconds(60))
            try await FleetSession.with(keyring, broker: publish.brokerIfOnline) { session in
                let staged: [UInt32]
                do throws(FleetError) {
                    staged = try session.authority.ungrant(device, read: reads, write: writes)
                } catch {
                    throw CLIFailure(fleetError: error)
                }
                try await RekeyOptions.twoPhase(&session, staged: staged, checked: checked)
            }
        }
    }
}

struct FleetListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the enrolled devices, their grants and slot state.")

    @OptionGroup var keyring: KeyringOptions

    @Flag(help: "Print JSON ({\"devices\": [...]}, sorted keys) instead of a table.")
    var json = false

    /// One row of `fleet list --json`.
    struct Device: Encodable {
        var device: String
        var sid: String
        var state: String
        var published: UInt64
        var acked: UInt64
        var read: [String]
        var write: [String]
    }

    func run() async throws {
        try await runReportingFailures {
            let session = try await FleetSession.open(keyring, broker: nil)
            if json {
                let devices = session.authority.registry.members.map { member in
                    Device(
                        device: member.device, sid: KeyringID.format(member.sid), state: member.state.rawValue,
                        published: UInt64(member.published), acked: UInt64(member.acked),
                        read: member.read.map(\.string), write: member.write.map(\.string))
                }
                await session.close()
                try JSONListing.write(["devices": devices])
                return
            }
            var lines = ["DEVICE\tSID\tSTATE\tPUBLISHED\tACKED\tREAD\tWRITE"]
            for member in session.authority.registry.members {
                lines.append(
                    [
                        member.device, KeyringID.format(member.sid), member.state.rawValue, "\(member.published)",
                        "\(member.acked)", member.read.map(\.string).joined(separator: ","),
                        member.write.map(\.string).joined(separator: ","),
                    ].joined(separator: "\t"))
            }
            print(lines.joined(separator: "\n"))
            await session.close()
        }
    }
}

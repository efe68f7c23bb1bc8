import ArgumentParser
import Foundation
import MQTT
import NIOCore
import SealFleet
import SealKeyring
import SealedMQTT

/// `mqtt-seal device`: the device's side of the fleet.
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Create a device identity, show its fleet state, fetch its key slot.",
        subcommands: [DeviceInitCommand.self, DeviceStatusCommand.self, DeviceSyncCommand.self]
    )
}

struct DeviceInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create this device's keyring (X25519 + Ed25519) and print its signed enrolment request.",
        discussion: """
            The private keys never leave the keyring. Hand the printed line to the operator for \
            `mqtt-seal fleet enroll`.
            """
    )

    @Option(help: ArgumentHelp("The device id (A-Z a-z 0-9 . _ - @, at most 64).", valueName: "id"))
    var id: String

    @Option(help: ArgumentHelp("The authority's public key, as fleet init printed it.", valueName: "base64"))
    var authority: String

    @OptionGroup var keyring: KeyringOptions

    func run() async throws {
        try await runReportingFailures {
            let authorityKey = try FleetArgument.publicKey(authority, flag: "--authority")
            let credential = try keyring.credential(confirm: true)
            do throws(FleetError) {
                let request = try FleetDeviceKeyring.create(
                    file: keyring.file, credential: credential, device: id, authority: authorityKey)
                print(request.encode())
            } catch {
                throw CLIFailure(fleetError: error)
            }
        }
    }
}

struct DeviceStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the device id, the pinned authorities, the slot sequence and the keys."
    )

    @OptionGroup var keyring: KeyringOptions

    @Flag(help: "Print JSON (sorted keys) instead of lines.")
    var json = false

    /// `device status --json`: public metadata only.
    struct Status: Encodable {
        struct Key: Encodable {
            var kid: String
            var suite: String
            var state: String
            var topics: [String]
        }
        struct Signer: Encodable {
            var sid: String
            var name: String?
            var topics: [String]
        }
        var device: String
        var sequence: UInt64
        /// The pinned authorities' Ed25519 public keys, base64.
        var authorities: [String]
        /// The device's own signing identity.
        var signer: String?
        var keys: [Key]
        var trusts: [Signer]
    }

    func run() async throws {
        try await runReportingFailures {
            let device = FleetDeviceKeyring(file: keyring.file, credential: try keyring.credential())
            let loaded: Keyring
            do throws(FleetError) {
                loaded = try device.load()
            } catch {
                throw CLIFailure(fleetError: error)
            }
            let section = loaded.device!
            if json {
                try JSONListing.write(
                    Status(
                        device: section.id, sequence: UInt64(section.sequence),
                        authorities: section.authorities.map { Data($0).base64EncodedString() },
                        signer: loaded.deviceIdentity.map { KeyringID.format($0.sid) },
                        keys: loaded.keys.map {
                            Status.Key(
                                kid: KeyringID.format($0.kid), suite: $0.suite.rawValue, state: $0.state.rawValue,
                                topics: $0.scope.filters.map(\.string))
                        },
                        trusts: loaded.signers.map {
                            Status.Signer(
                                sid: KeyringID.format($0.sid), name: $0.name, topics: $0.scope.filters.map(\.string))
                        }))
                return
            }
            var lines = ["device \(section.id)", "sequence \(section.sequence)"]
            for authority in section.authorities {
                lines.append("authority \(Data(authority).base64EncodedString())")
            }
            if let identity = loaded.deviceIdentity { lines.append("signer \(KeyringID.format(identity.sid)) (own)") }
            for key in loaded.keys {
                lines.append("key \(KeyringID.format(key.kid)) \(key.suite.rawValue) \(key.state) \(key.scope)")
            }
            for signer in loaded.signers {
                lines.append("trusts \(KeyringID.format(signer.sid)) \(signer.name ?? "-") \(signer.scope)")
            }
            print(lines.joined(separator: "\n"))
        }
    }
}

struct DeviceSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Connect, apply the device's retained key slot (asking for it if there is none), ack, and exit.",
        discussion: """
            Exit 0 when a slot was applied or was current, 1 when it was refused (keys unchanged), 75 when none             arrived in time, 77 when the authority cleared the slot (the device was revoked).
            """
    )

    @OptionGroup var keyring: KeyringOptions
    @OptionGroup var fleet: FleetPrefixOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: ArgumentHelp("Seconds to wait for a slot.", valueName: "seconds"))
    var wait: String = "10"

    func run() async throws {
        try await runReportingFailures {
            let seconds = try BrokerOptions.integer(wait, flag: "--wait", in: 1...3600)
            let topics = try fleet.topics()
            let device = FleetDeviceKeyring(file: keyring.file, credential: try keyring.credential())
            let resolved = try broker.resolve(role: "device")
            let client = try await broker.connect(resolved, role: "device")
            let agent: FleetDeviceAgent
            do throws(FleetError) {
                agent = try FleetDeviceAgent(
                    client: client, device: device, topics: topics, requestAfter: .seconds(1),
                    logger: BrokerOptions.logger(debug: broker.debug))
            } catch {
                await client.disconnect()
                throw CLIFailure(fleetError: error)
            }
            let outcome = try await Self.sync(agent, seconds: seconds)
            await client.disconnect()
            let statistics = agent.statistics
            switch outcome {
            case .done:
                print("device at sequence \(statistics.sequence)")
            case .refused(let reason):
                throw CLIFailure(.authenticationFailure, "key slot refused (\(reason.rawValue)); keys unchanged")
            case .cleared:
                throw CLIFailure(.permission, "the authority cleared this device's key slot: it was revoked")
            case .timedOut:
                throw CLIFailure(
                    .timedOut,
                    "no key slot arrived within \(seconds) s (a request was sent; a revoked device has no slot)")
            }
        }
    }

    enum Outcome { case done, refused(FleetError.SlotRejection), cleared, timedOut }

    /// Follows the slot until one is applied or current, or one is refused, or time runs out.
    static func sync(_ agent: FleetDeviceAgent, seconds: Int) async throws -> Outcome {
        let stream = try await agent.subscribe()
        return try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                try await agent.follow(stream)
                return nil
            }
            group.addTask {
                let clock = ContinuousClock()
                let deadline = clock.now.advanced(by: .seconds(seconds))
                while clock.now < deadline {
                    let statistics = agent.statistics
                    if statistics.applied > 0 || statistics.alreadyApplied > 0 { return .done }
                    if let reason = statistics.rejected.keys.first { return .refused(reason) }
                    if statistics.cleared > 0 { return .cleared }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return .timedOut
            }
            var result: Outcome = .timedOut
            while let next = try await group.next() {
                if let next {
                    result = next
                    break
                }
            }
            group.cancelAll()
            return result
        }
    }
}

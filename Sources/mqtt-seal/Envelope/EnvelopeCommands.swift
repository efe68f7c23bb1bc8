import ArgumentParser
import Foundation
import Seal
import SealKeyring

/// `mqtt-seal seal`: stdin payload -> envelope on stdout, with the topic's primary key (and a signature).
struct SealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal standard input for a topic and write the envelope to standard output.",
        discussion: """
            Uses the primary key whose topic filter matches --topic best (Specs/keyring.md §6). With --sign-as \
            NAME (or --sign, the topic's own identity) the envelope is also signed (encrypt-then-sign); \
            --sign-only signs without a key (payload in clear). An HMAC key gives the MAC mode (payload in clear).
            """
    )

    @OptionGroup var options: KeyringOptions

    @Option(name: [.customShort("t"), .long], help: "The concrete MQTT topic the envelope will be published on.")
    var topic: String

    @Option(help: ArgumentHelp("Sign with the own identity of this name.", valueName: "name"))
    var signAs: String?

    @Flag(help: "Sign with the identity whose topic filter matches the topic best.")
    var sign = false

    @Flag(help: "Sign only (Ed25519, payload in clear, no symmetric key).")
    var signOnly = false

    @Option(help: ArgumentHelp("Bind this application context (UTF-8) into the authentication.", valueName: "text"))
    var context: String?

    @Flag(help: "Seal for publishing with the MQTT retain flag (receivers check its own maximum age).")
    var retain = false

    func run() async throws {
        try await runReportingFailures {
            let snapshot = KeyringSnapshot(try options.load())
            let sealer: Sealer
            do throws(KeyringError) {
                sealer =
                    signOnly
                    ? try snapshot.signingSealer(for: topic, signAs: signAs)
                    : try snapshot.sealer(for: topic, sign: sign, signAs: signAs)
            } catch {
                throw CLIFailure(keyringError: error)
            }
            let payload = try readStandardInput(limit: Sealer.maxPayloadBytes, what: "payload")
            let envelope: [UInt8]
            do throws(SealError) {
                envelope = try sealer.seal(
                    payload, topic: topic, context: context.map { Array($0.utf8) }, retain: retain)
            } catch {
                throw CLIFailure(.dataError, "cannot seal: \(error.message)")
            }
            try writeStandardOutput(envelope)
        }
    }
}

/// `mqtt-seal open`: envelope on stdin -> payload on stdout; every rejection exits 1.
struct OpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Verify and open an envelope from standard input and write the payload to standard output.",
        discussion: """
            Exits 1 for every rejection (one code whatever the reason; the reason is printed for the operator). \
            Freshness applies (older than 60 s, or 10 s in the future, is rejected; --retained allows 24 h for a \
            retained copy). Each run starts with an empty replay window: replays across runs are only caught by a \
            long-running subscriber.
            """
    )

    @OptionGroup var options: KeyringOptions

    @Option(name: [.customShort("t"), .long], help: "The concrete MQTT topic the envelope arrived on.")
    var topic: String

    @Option(help: ArgumentHelp("The application context the sender bound, if any.", valueName: "text"))
    var context: String?

    @Flag(help: "The envelope is a retained copy (published with the retain flag).")
    var retained = false

    @Flag(name: .shortAndLong, help: "Print the key, the sender and the mode on standard error.")
    var verbose = false

    func validate() throws {
        do {
            try TopicFilter.validateTopic(topic)
        } catch {
            throw ValidationError("--topic: \(error.message)")
        }
    }

    func run() async throws {
        try await runReportingFailures {
            let keyring = try options.load()
            let opener = Opener(keys: KeyringSnapshot(keyring))
            let envelope = try readStandardInput(limit: Sealer.maxPayloadBytes + 1024, what: "envelope")
            let message: OpenedMessage
            do throws(SealError) {
                message = try opener.open(
                    envelope, topic: topic, context: context.map { Array($0.utf8) }, retained: retained)
            } catch {
                throw CLIFailure(.authenticationFailure, "open: \(error.code) (reason: \(error.reason))")
            }
            if verbose {
                let sender = message.signer.map { sid in
                    let name =
                        keyring.signer(sid)?.name ?? keyring.identity(sid)?.name
                    return "signer \(KeyringID.format(sid))" + (name.map { " (\($0))" } ?? "")
                }
                let seconds = Double(message.timestampMilliseconds) / 1000
                printError(
                    "opened: mode \(message.mode), key \(message.mode == .sign ? "-" : KeyringID.format(message.keyID)), "
                        + "sender \(KeyringID.format(message.senderID)), \(sender ?? "unsigned"), "
                        + "sealed \(KeyringTime.format(Date(timeIntervalSince1970: seconds)))")
            }
            try writeStandardOutput(message.payload)
        }
    }
}

import ArgumentParser
import Foundation
import MQTT
import NIOCore
import Seal
import SealFleet
import SealKeyring
import SealedMQTT

/// How `pub` and `sub` protect payloads: sealed with a keyring (the default), or in clear with `--plain`.
struct SealingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Seal (pub) or verify (sub) with this keyring (default ./mqtt-seal.keyring when it exists).",
            valueName: "path"))
    var keyring: String?

    @Option(help: ArgumentHelp("Read the keyring passphrase from this file (mode 0600).", valueName: "path"))
    var passphraseFile: String?

    @Option(
        name: .customLong("kek-file"),
        help: ArgumentHelp("Unlock the keyring with this key-encryption-key file.", valueName: "path"))
    var kekFile: String?

    @Flag(help: "Send or accept payloads in clear, without an envelope (no keyring).")
    var plain = false

    @Flag(
        help: ArgumentHelp(
            "The keyring is a fleet device keyring (device init): follow its key slot while running.",
            discussion: "Slots are applied atomically and the keys reloaded at once; acks are sent as they apply."))
    var device = false

    @Option(help: ArgumentHelp("The fleet's topic prefix (with --device).", valueName: "prefix"))
    var fleetPrefix: String = "seal/v1"

    /// The follower of `--device`, nil without it.
    func follower(_ location: KeyringLocation, debug: Bool) throws(CLIFailure) -> DeviceFollower? {
        guard device else { return nil }
        do {
            return DeviceFollower(
                location: location, topics: try FleetTopics(prefix: fleetPrefix),
                logger: BrokerOptions.logger(debug: debug))
        } catch {
            throw CLIFailure(fleetError: error)
        }
    }

    /// The default keyring path when `--keyring` is not given.
    static let defaultKeyring = "./mqtt-seal.keyring"

    /// Either in clear, or sealed with a keyring.
    enum Mode {
        case plain
        case sealed(KeyringLocation)
    }

    /// Checks the combination and says which mode applies; a usage error (64) when neither is possible.
    func mode(role: String) throws(CLIFailure) -> Mode {
        if plain {
            if keyring != nil || passphraseFile != nil || kekFile != nil || device {
                throw CLIFailure(
                    .usage, "\(role): --plain excludes --keyring, --passphrase-file, --kek-file and --device")
            }
            return .plain
        }
        if passphraseFile != nil && kekFile != nil {
            throw CLIFailure(.usage, "\(role): --passphrase-file and --kek-file exclude each other")
        }
        let path = keyring ?? Self.defaultKeyring
        if keyring == nil && !FileManager.default.fileExists(atPath: path) {
            throw CLIFailure(
                .usage, "\(role): no keyring: give --keyring PATH to seal, or --plain to send in clear")
        }
        return .sealed(KeyringLocation(path: path, passphraseFile: passphraseFile, kekFile: kekFile))
    }
}

/// The sealing step of `pub`: the topic's primary key (and signature) through ``SealedMQTTClient/seal(_:for:retain:)``.
struct SealingStep: PayloadStep {
    let sealed: SealedMQTTClient
    let retain: Bool

    func outgoing(_ payload: ByteBuffer, topic: String) throws(CLIFailure) -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try sealed.seal(Array(buffer: payload), for: topic, retain: retain))
        } catch {
            throw CLIFailure(.dataError, "pub: \(error.message)")
        }
    }

    func incoming(_ message: MQTTMessage) throws(CLIFailure) -> ByteBuffer? { message.payload }
}

/// A key source that signs as one named identity of the keyring (`pub --sign-as NAME`), following hot reloads.
struct NamedIdentityKeys: SealingKeySource {
    let keys: KeyringWatcher
    let name: String

    func key(id: UInt32, topic: String) -> SealKey? { keys.key(id: id, topic: topic) }

    func signer(id: UInt32, topic: String) -> VerifyingKey? { keys.signer(id: id, topic: topic) }

    func sealer(for topic: String, signing: PublishSigning) throws(KeyringError) -> Sealer {
        guard signing != .never else { return try keys.sealer(for: topic, signing: .never) }
        return try keys.current.sealer(for: topic, signAs: name)
    }

    func signOnlySealer(for topic: String) throws(KeyringError) -> Sealer {
        try keys.current.signingSealer(for: topic, signAs: name)
    }

    func refreshKeys() -> Bool { keys.refreshKeys() }
}

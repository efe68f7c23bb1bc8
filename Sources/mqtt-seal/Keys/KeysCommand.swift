import ArgumentParser
import Foundation
import Seal
import SealKeyring

/// `mqtt-seal keys`: create the keyring, manage the key lifecycle, signing identities and trusted signers.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create and rotate keys, manage signing identities and trusted signers.",
        discussion: """
            Every subcommand takes --keyring PATH (default ./mqtt-seal.keyring) and unlocks it with --kek-file, \
            --passphrase-file, the environment variable MQTT_SEAL_PASSPHRASE, or a prompt on the terminal, in \
            that order. Writes are atomic and serialised by a lock file beside the keyring. \
            Lifecycle: pending -> primary -> decrypt-only -> disabled -> destroyed. \
            Rotation without loss: add (pending), distribute, promote, later disable and destroy the old key.
            """,
        subcommands: [
            KeysInit.self, KeysAdd.self, KeysPromote.self, KeysRetire.self, KeysDisable.self, KeysEnable.self,
            KeysDestroy.self, KeysList.self, KeysRotate.self, KeysNewSigner.self, KeysExportVerifiers.self,
            KeysImportSigner.self, KeysDisableSigner.self, KeysEnableSigner.self, KeysRevokeSigner.self,
            KeysChangePassphrase.self, KeysExportDeviceKey.self, KeysRewrapRetained.self,
        ]
    )
}

// MARK: - init

struct KeysInit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new keyring (mode 0600) with one primary key on every topic, ready to seal.",
        discussion: """
            The first key is a primary of --suite (xchacha20poly1305 by default) on the topic filter #; --empty \
            creates a keyring without keys. With --kek-file, a missing key-encryption-key file is created (32 \
            random bytes, mode 0600). With a passphrase, the key-encryption key is derived with Argon2id (--kdf \
            interactive: 2 passes, 64 MiB). Refuses to overwrite an existing keyring.
            """
    )

    @OptionGroup var options: KeyringOptions

    @Option(help: "Argon2id cost for a passphrase: interactive, moderate, or minimum (tests only).")
    var kdf: KDFChoice = .interactive

    @Option(help: "The first key's suite: xchacha20poly1305, aes256gcm or hmac-sha256.")
    var suite: String?

    @Flag(help: "Create the keyring without a key.")
    var empty = false

    func validate() throws {
        if empty && suite != nil { throw ValidationError("--suite names the first key; --empty creates none") }
    }

    func run() async throws {
        try await runReportingFailures {
            // Refuse before creating anything (a new key-encryption-key file would be left behind otherwise).
            if FileManager.default.fileExists(atPath: options.keyring) {
                throw CLIFailure(.dataError, "keyring \(options.keyring) already exists")
            }
            let firstSuite = try suite.map { (text: String) throws(CLIFailure) in try KeyringArgument.suite(text) }
            var keyring = Keyring()
            var first: UInt32?
            if !empty {
                do throws(KeyringError) {
                    first = try keyring.rotate(scope: .all, suite: firstSuite ?? .xchacha20poly1305)
                } catch {
                    throw CLIFailure(keyringError: error)
                }
            }
            let credential: KeyringCredential
            if let kekFile = options.kekFile, !FileManager.default.fileExists(atPath: kekFile) {
                do throws(KeyringError) {
                    credential = try KeyringCredential.generateKeyEncryptionKeyFile(kekFile)
                } catch {
                    throw CLIFailure(keyringError: error)
                }
                printError("created key-encryption-key file \(kekFile) (keep it apart from the keyring)")
            } else {
                credential = try options.credential(confirm: true)
            }
            do throws(KeyringError) {
                try options.file.create(keyring, credential: credential, kdf: kdf.parameters)
            } catch {
                throw CLIFailure(keyringError: error)
            }
            printError("created keyring \(options.keyring)")
            if let first, let key = keyring.key(first) {
                // The id alone on stdout (KID=$(mqtt-seal keys init)); the sentence on stderr.
                print(KeyringID.format(first))
                printError("added key \(KeyringID.format(first)) (\(key.suite), primary, topics \(key.scope))")
            }
        }
    }
}

/// The Argon2id cost presets.
enum KDFChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case interactive
    case moderate
    case minimum

    var parameters: KeyringKDFParameters {
        switch self {
        case .interactive: .interactive
        case .moderate: .moderate
        case .minimum: .minimum
        }
    }
}

// MARK: - add

struct KeysAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a new key in state pending and print its kid.",
        discussion: """
            A pending key already opens messages, so every receiver can load it before it is promoted. \
            Suites: xchacha20poly1305 (default), aes256gcm, hmac-sha256.
            """
    )

    @OptionGroup var options: KeyringOptions

    @Option(help: "The key's suite: xchacha20poly1305, aes256gcm or hmac-sha256.")
    var suite: String = Suite.xchacha20poly1305.rawValue

    @Option(help: ArgumentHelp("Restrict the key to these MQTT topic filters (comma-separated).", valueName: "filters"))
    var topics: String?

    @Option(
        help: ArgumentHelp("The key stops sealing after this date (YYYY-MM-DD or RFC 3339 UTC).", valueName: "date"))
    var notAfter: String?

    func run() async throws {
        try await runReportingFailures {
            let suite = try KeyringArgument.suite(suite)
            let scope = try KeyringArgument.scope(topics)
            let notAfter = try notAfter.map { (text: String) throws(CLIFailure) in try KeyringArgument.date(text) }
            let kid = try options.update { keyring throws(KeyringError) in
                try keyring.addKey(suite: suite, scope: scope, notAfter: notAfter)
            }
            print(KeyringID.format(kid))
            printError("added key \(KeyringID.format(kid)) (\(suite), pending, topics \(scope))")
        }
    }
}

// MARK: - lifecycle transitions

/// The one-key lifecycle moves: promote, retire, disable, enable, destroy.
enum KeyTransition: Sendable {
    case promote, retire, disable, enable, destroy

    func apply(_ kid: UInt32, to keyring: inout Keyring) throws(KeyringError) -> String {
        let before = keyring.key(kid)?.state
        var demoted: UInt32?
        switch self {
        case .promote: demoted = try keyring.promote(kid)
        case .retire: try keyring.retire(kid)
        case .disable: try keyring.disable(kid)
        case .enable: try keyring.enable(kid)
        case .destroy: try keyring.destroy(kid)
        }
        var line =
            "key \(KeyringID.format(kid)): \(before?.description ?? "?") -> \(keyring.key(kid)?.state.description ?? "?")"
        if let demoted { line += "; key \(KeyringID.format(demoted)): primary -> decrypt-only" }
        if self == .retire, let key = keyring.key(kid), keyring.primary(of: key.scope) == nil {
            line += "; topics \(key.scope) have no primary now (nothing seals there until one is promoted)"
        }
        return line
    }
}

/// Runs one lifecycle move on the key named on the command line.
struct KeyTransitionRunner {
    let options: KeyringOptions
    let kid: String
    let transition: KeyTransition

    func run() async throws {
        try await runReportingFailures {
            let kid = try KeyringArgument.id(kid)
            let line = try options.update { keyring throws(KeyringError) in try transition.apply(kid, to: &keyring) }
            print(line)
        }
    }
}

struct KeysPromote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract:
            "Make a pending (or decrypt-only) key the primary of its topics; the old primary becomes decrypt-only."
    )
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The key id (8 hex digits).") var kid: String
    func run() async throws { try await KeyTransitionRunner(options: options, kid: kid, transition: .promote).run() }
}

struct KeysRetire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire", abstract: "Move a primary key to decrypt-only (it still opens, no longer seals).")
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The key id (8 hex digits).") var kid: String
    func run() async throws { try await KeyTransitionRunner(options: options, kid: kid, transition: .retire).run() }
}

struct KeysDisable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable", abstract: "Disable a pending or decrypt-only key: it no longer opens anything.")
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The key id (8 hex digits).") var kid: String
    func run() async throws { try await KeyTransitionRunner(options: options, kid: kid, transition: .disable).run() }
}

struct KeysEnable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable", abstract: "Re-enable a disabled key as decrypt-only.")
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The key id (8 hex digits).") var kid: String
    func run() async throws { try await KeyTransitionRunner(options: options, kid: kid, transition: .enable).run() }
}

struct KeysDestroy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Erase a disabled key's secret for good; its kid stays as a tombstone and is never reused.")
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The key id (8 hex digits).") var kid: String
    func run() async throws { try await KeyTransitionRunner(options: options, kid: kid, transition: .destroy).run() }
}

// MARK: - rotate

struct KeysRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Add a key and promote it in one write; the old primary of the topics becomes decrypt-only.",
        discussion: """
            Use this where every receiver reloads the keyring before the first message under the new key arrives \
            (a shared keyring file with hot reload). Otherwise run add, distribute the keyring, then promote.
            """
    )

    @OptionGroup var options: KeyringOptions

    @Option(
        help: ArgumentHelp(
            "The topic filters of the scope to rotate (comma-separated; default: every topic).", valueName: "filters"))
    var topics: String?

    @Option(help: "The new key's suite (default: the old primary's).")
    var suite: String?

    @Option(help: ArgumentHelp("The new key stops sealing after this date.", valueName: "date"))
    var notAfter: String?

    func run() async throws {
        try await runReportingFailures {
            let scope = try KeyringArgument.scope(topics)
            let suite = try suite.map { (text: String) throws(CLIFailure) in try KeyringArgument.suite(text) }
            let notAfter = try notAfter.map { (text: String) throws(CLIFailure) in try KeyringArgument.date(text) }
            let (new, old) = try options.update { keyring throws(KeyringError) in
                let old = keyring.primary(of: scope)?.kid
                return (try keyring.rotate(scope: scope, suite: suite, notAfter: notAfter), old)
            }
            print(KeyringID.format(new))
            if let old {
                printError(
                    "rotated topics \(scope): key \(KeyringID.format(new)) is primary, \(KeyringID.format(old)) is decrypt-only"
                )
            } else {
                printError("rotated topics \(scope): key \(KeyringID.format(new)) is primary (the scope had none)")
            }
        }
    }
}

// MARK: - signing identities and signers

struct KeysNewSigner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-signer",
        abstract: "Create an own Ed25519 signing identity (seal --sign-as NAME uses it).",
        discussion: "Give its verifier to receivers with export-verifiers; they add it with import-signer."
    )

    @OptionGroup var options: KeyringOptions

    @Argument(help: "The identity's name: 1-64 of A-Z a-z 0-9 . _ - @.")
    var name: String

    @Option(help: ArgumentHelp("The topics this identity signs for (comma-separated).", valueName: "filters"))
    var topics: String?

    func run() async throws {
        try await runReportingFailures {
            do throws(KeyringError) {
                try KeyringIdentity.validateName(name)
            } catch {
                throw CLIFailure(.usage, error.message)
            }
            let scope = try KeyringArgument.scope(topics)
            let sid = try options.update { keyring throws(KeyringError) in
                try keyring.newSigningIdentity(name: name, scope: scope)
            }
            print(KeyringID.format(sid))
            printError("created signing identity \(name): sid \(KeyringID.format(sid)), topics \(scope)")
        }
    }
}

struct KeysExportVerifiers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-verifiers",
        abstract: "Write the public keys of the own signing identities (no secrets) as a verifier bundle.",
        discussion: "The bundle is not authenticated: move it over a trusted channel and compare the fingerprints."
    )

    @OptionGroup var options: KeyringOptions

    @Option(
        name: [.customShort("o"), .long], help: ArgumentHelp("Write to this file instead of stdout.", valueName: "path")
    )
    var output: String?

    @Option(help: ArgumentHelp("Export only the identity with this name.", valueName: "name"))
    var name: String?

    func run() async throws {
        try await runReportingFailures {
            let keyring = try options.load()
            var verifiers = keyring.exportVerifiers()
            if let name {
                verifiers = verifiers.filter { $0.name == name }
                guard !verifiers.isEmpty else {
                    throw CLIFailure(.dataError, "no signing identity named \(name) in \(options.keyring)")
                }
            }
            let bytes = KeyringVerifiers.encode(verifiers)
            if let output {
                try writeNewFile(output, bytes: bytes)
                printError("wrote \(verifiers.count) verifier(s) to \(output)")
            } else {
                try writeStandardOutput(bytes)
            }
        }
    }
}

struct KeysImportSigner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-signer",
        abstract: "Trust the signers of a verifier bundle (from export-verifiers) on their topics.",
        discussion: "Each public key is validated (no small-order or non-canonical points)."
    )

    @OptionGroup var options: KeyringOptions

    @Argument(help: "The verifier bundle, or - for standard input.")
    var file: String

    @Option(
        help: ArgumentHelp(
            "Trust the signers only on these topic filters (comma-separated) instead of the bundle's.",
            valueName: "filters"))
    var topics: String?

    func run() async throws {
        try await runReportingFailures {
            let bytes = try readInput(file, limit: 1 << 20, what: "verifier bundle")
            var signers: [KeyringSigner]
            do throws(KeyringError) {
                signers = try KeyringVerifiers.decode(bytes)
            } catch {
                throw CLIFailure(keyringError: error, invalidArgument: .dataError)
            }
            guard !signers.isEmpty else { throw CLIFailure(.dataError, "the verifier bundle lists no signers") }
            if topics != nil {
                let scope = try KeyringArgument.scope(topics)
                signers = try signers.map { (signer: KeyringSigner) throws(CLIFailure) in
                    do throws(KeyringError) {
                        return try KeyringSigner(
                            sid: signer.sid, publicKey: signer.publicKey, scope: scope, name: signer.name)
                    } catch {
                        throw CLIFailure(keyringError: error, invalidArgument: .dataError)
                    }
                }
            }
            try options.update { keyring throws(KeyringError) in
                for signer in signers { try keyring.importSigner(signer) }
            }
            for signer in signers {
                print(
                    "trusted signer \(KeyringID.format(signer.sid))\(signer.name.map { " (\($0))" } ?? "") on topics \(signer.scope)"
                )
            }
        }
    }
}

/// Moves a trusted signer to another state and prints the move.
struct SignerStateRunner {
    let options: KeyringOptions
    let sid: String
    let state: SignerState

    func run() async throws {
        try await runReportingFailures {
            let sid = try KeyringArgument.id(sid)
            let before = try options.update { keyring throws(KeyringError) -> SignerState? in
                let before = keyring.signer(sid)?.state
                try keyring.setSignerState(sid, to: state)
                return before
            }
            print("signer \(KeyringID.format(sid)): \(before?.description ?? "?") -> \(state)")
        }
    }
}

struct KeysDisableSigner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable-signer", abstract: "Stop trusting a signer for now (enable-signer undoes it).")
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The signer id (8 hex digits).") var sid: String
    func run() async throws { try await SignerStateRunner(options: options, sid: sid, state: .disabled).run() }
}

struct KeysEnableSigner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable-signer", abstract: "Trust a disabled signer again.")
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The signer id (8 hex digits).") var sid: String
    func run() async throws { try await SignerStateRunner(options: options, sid: sid, state: .active).run() }
}

struct KeysRevokeSigner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke-signer",
        abstract: "Revoke a signer for good (a compromised sender); its sid stays as a tombstone.")
    @OptionGroup var options: KeyringOptions
    @Argument(help: "The signer id (8 hex digits).") var sid: String
    func run() async throws { try await SignerStateRunner(options: options, sid: sid, state: .revoked).run() }
}

// MARK: - change-passphrase

struct KeysChangePassphrase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "change-passphrase",
        abstract: "Re-encrypt the keyring under a new passphrase or key-encryption-key file.",
        discussion: """
            The current credential comes from the usual options. The new one from --new-kek-file (created when \
            missing), --new-passphrase-file, the environment variable MQTT_SEAL_NEW_PASSPHRASE, or a prompt \
            (asked twice). A new salt is drawn; the file is replaced atomically.
            """
    )

    @OptionGroup var options: KeyringOptions

    @Option(help: ArgumentHelp("Read the new passphrase from this file (mode 0600).", valueName: "path"))
    var newPassphraseFile: String?

    @Option(
        name: .customLong("new-kek-file"),
        help: ArgumentHelp("Switch to this key-encryption-key file (created when missing).", valueName: "path"))
    var newKekFile: String?

    @Option(help: "Argon2id cost for a new passphrase: interactive, moderate, or minimum (tests only).")
    var kdf: KDFChoice = .interactive

    func validate() throws {
        if newPassphraseFile != nil && newKekFile != nil {
            throw ValidationError("--new-passphrase-file and --new-kek-file exclude each other")
        }
    }

    func run() async throws {
        try await runReportingFailures {
            let old = try options.credential()
            let new: KeyringCredential
            do throws(KeyringError) {
                if let newKekFile, !FileManager.default.fileExists(atPath: newKekFile) {
                    new = try KeyringCredential.generateKeyEncryptionKeyFile(newKekFile)
                    printError("created key-encryption-key file \(newKekFile)")
                } else if newKekFile != nil || newPassphraseFile != nil {
                    new = try KeyringCredential.resolve(
                        passphraseFile: newPassphraseFile, keyEncryptionKeyFile: newKekFile)
                } else if let value = ProcessInfo.processInfo.environment["MQTT_SEAL_NEW_PASSPHRASE"] {
                    new = try KeyringCredential.passphrase(value)
                } else {
                    new = try PassphrasePrompt.ask("New keyring passphrase: ", confirm: true)
                }
            } catch {
                throw CLIFailure(keyringError: error, invalidArgument: .dataError)
            }
            do throws(KeyringError) {
                try options.file.changeCredential(from: old, to: new, kdf: kdf.parameters)
            } catch {
                throw CLIFailure(keyringError: error)
            }
            print("re-encrypted keyring \(options.keyring) under the new credential")
        }
    }
}

import ArgumentParser
import Foundation
import Seal
import SealKeyring

/// The options every keyring-using command shares: where the keyring is and what unlocks it.
struct KeyringOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The keyring file.", valueName: "path"))
    var keyring: String = "./mqtt-seal.keyring"

    @Option(
        help: ArgumentHelp(
            "Read the passphrase from this file (mode 0600; one trailing newline is ignored).", valueName: "path"))
    var passphraseFile: String?

    @Option(
        name: .customLong("kek-file"),
        help: ArgumentHelp(
            "Unlock with a 32-byte key-encryption-key file (64 hex digits, mode 0600) instead of a passphrase.",
            valueName: "path"))
    var kekFile: String?

    func validate() throws {
        if passphraseFile != nil && kekFile != nil {
            throw ValidationError("--passphrase-file and --kek-file exclude each other")
        }
        if keyring.isEmpty { throw ValidationError("--keyring must not be empty") }
    }

    /// Where the keyring is and what unlocks it.
    var location: KeyringLocation {
        KeyringLocation(path: keyring, passphraseFile: passphraseFile, kekFile: kekFile)
    }

    /// The keyring file.
    var file: KeyringFile { location.file }

    /// See ``KeyringLocation/credential(confirm:)``.
    func credential(confirm: Bool = false) throws(CLIFailure) -> KeyringCredential {
        try location.credential(confirm: confirm)
    }

    /// See ``KeyringLocation/load()``.
    func load() throws(CLIFailure) -> Keyring { try location.load() }

    /// See ``KeyringLocation/update(_:)``.
    func update<Result>(_ body: (inout Keyring) throws(KeyringError) -> Result) throws(CLIFailure) -> Result {
        try location.update(body)
    }
}

/// A keyring file and the way to unlock it, as the command line gave them.
struct KeyringLocation: Sendable {
    let path: String
    let passphraseFile: String?
    let kekFile: String?

    /// The keyring file.
    var file: KeyringFile { KeyringFile(path: path) }

    /// The credential, from `--kek-file`, `--passphrase-file`, `MQTT_SEAL_PASSPHRASE` or a prompt, in that order.
    ///
    /// - Parameter confirm: ask twice when prompting (for a new keyring).
    func credential(confirm: Bool = false) throws(CLIFailure) -> KeyringCredential {
        do {
            return try KeyringCredential.resolve(
                passphraseFile: passphraseFile, keyEncryptionKeyFile: kekFile,
                prompt: PassphrasePrompt.hook("Keyring passphrase: ", confirm: confirm))
        } catch {
            // A credential file that exists but holds nothing usable is bad data, not a bad command line.
            let fromFile = passphraseFile != nil || kekFile != nil
            throw CLIFailure(keyringError: error, invalidArgument: fromFile ? .dataError : .usage)
        }
    }

    /// Loads the keyring.
    func load() throws(CLIFailure) -> Keyring {
        let credential = try credential()
        do {
            return try file.load(credential: credential)
        } catch {
            throw CLIFailure(keyringError: error)
        }
    }

    /// A hot-reloading view of the keyring (for long-running commands).
    func watch(onEvent: @escaping @Sendable (KeyringWatcher.Event) -> Void) throws(CLIFailure) -> KeyringWatcher {
        let credential = try credential()
        do {
            return try KeyringWatcher(file: file, credential: credential, onEvent: onEvent)
        } catch {
            throw CLIFailure(keyringError: error)
        }
    }

    /// Runs a locked read-modify-write of the keyring (atomic; nothing is written when `body` throws).
    func update<Result>(_ body: (inout Keyring) throws(KeyringError) -> Result) throws(CLIFailure) -> Result {
        let credential = try credential()
        do {
            return try file.update(credential: credential, body)
        } catch {
            throw CLIFailure(keyringError: error)
        }
    }
}

extension CLIFailure {
    /// The documented exit code for a keyring error (Specs/keyring.md §10), with its one-line message.
    ///
    /// - Parameter invalidArgument: the code for `invalidArgument` (64 for a command-line value, 65 for file data).
    init(keyringError error: KeyringError, invalidArgument: ExitStatus = .usage) {
        let status: ExitStatus
        switch error.code {
        case .invalidArgument: status = invalidArgument
        case .notFound: status = .noInput
        case .io, .locked: status = .ioError
        case .permissions, .wrongCredential: status = .permission
        default: status = .dataError
        }
        self.init(status, error.message)
    }
}

/// Parsers for command-line values that the keyring validates.
enum KeyringArgument {
    /// A kid or sid: 8 hex digits, optional `0x`.
    static func id(_ text: String) throws(CLIFailure) -> UInt32 {
        do {
            return try KeyringID.parse(text)
        } catch {
            throw CLIFailure(keyringError: error, invalidArgument: .dataError)
        }
    }

    /// A comma-separated list of MQTT topic filters (nil or empty: every topic).
    static func scope(_ text: String?) throws(CLIFailure) -> TopicScope {
        guard let text, !text.isEmpty else { return .all }
        let filters = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        do {
            return try TopicScope(parsing: filters)
        } catch {
            throw CLIFailure(.dataError, "--topics: \(error.message)")
        }
    }

    /// `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SSZ`.
    static func date(_ text: String) throws(CLIFailure) -> Date {
        let full = text.utf8.count == 10 ? text + "T00:00:00Z" : text
        do {
            return try KeyringTime.parse(full)
        } catch {
            throw CLIFailure(.dataError, "--not-after: \(error.message) (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)")
        }
    }

    /// A symmetric suite name.
    static func suite(_ text: String) throws(CLIFailure) -> Suite {
        guard let suite = Suite(rawValue: text), suite.isSymmetric else {
            throw CLIFailure(
                .usage, "--suite: unknown key suite \"\(text)\"; use xchacha20poly1305, aes256gcm or hmac-sha256")
        }
        return suite
    }
}

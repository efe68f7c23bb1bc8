import Foundation
import Seal
import SealKeyring
import Testing

/// A temporary folder with a keyring unlocked by a key-encryption-key file, for driving `mqtt-seal keys ...`.
final class KeyringWorkspace: Sendable {
    let folder: URL
    let keyring: String
    let kek: String

    /// Creates the folder; with `initialise`, runs `keys init --empty` (which creates the KEK file) and checks it
    /// worked.
    init(initialise: Bool = true) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mqtt-seal-cli-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        keyring = folder.appendingPathComponent("test.keyring").path
        kek = folder.appendingPathComponent("test.kek").path
        if initialise {
            let result = try keys(["init", "--empty"])
            try #require(result.status == 0, "keys init: \(result.err)")
        }
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// The keyring flags every keyring command takes.
    var flags: [String] { ["--keyring", keyring, "--kek-file", kek] }

    /// `mqtt-seal keys SUBCOMMAND ARGS --keyring K --kek-file F`.
    func keys(_ arguments: [String], stdin: Data = Data()) throws -> CLIResult {
        try CLIRunner.run(["keys"] + arguments + flags, stdin: stdin)
    }

    /// `mqtt-seal COMMAND ARGS --keyring K --kek-file F` (seal, open).
    func run(_ arguments: [String], stdin: Data = Data()) throws -> CLIResult {
        try CLIRunner.run(arguments + flags, stdin: stdin)
    }

    /// The keyring, loaded by the library (an independent check of what the CLI wrote).
    func load() throws -> Keyring {
        try KeyringFile(path: keyring).load(credential: KeyringCredential.keyEncryptionKeyFile(kek))
    }

    /// The raw bytes of the keyring file.
    func bytes() throws -> Data { try Data(contentsOf: URL(fileURLWithPath: keyring)) }

    /// Adds a key and returns its kid: `keys add` prints it alone on stdout.
    func addKey(_ extra: [String] = []) throws -> String {
        let result = try keys(["add"] + extra)
        try #require(result.status == 0, "keys add: \(result.err)")
        return try Self.printedID(result)
    }

    /// Adds and promotes a key; returns its kid.
    func addPrimary(_ extra: [String] = []) throws -> String {
        let kid = try addKey(extra)
        let result = try keys(["promote", kid])
        try #require(result.status == 0, "keys promote: \(result.err)")
        return kid
    }

    /// The id a creating command (`keys add`, `rotate`, `new-signer`, `init`) printed alone on stdout.
    static func printedID(_ result: CLIResult) throws -> String {
        let id = result.out.trimmingCharacters(in: .newlines)
        try #require(id.utf8.count == 8 && result.out == id + "\n", "not an id alone: \(result.out)")
        return id
    }

    static func firstID(after marker: String, in text: String) throws -> String {
        let range = try #require(text.range(of: marker), "no \"\(marker)\" in \(text)")
        return String(text[range.upperBound...].prefix(8))
    }
}

import ArgumentParser
import Seal
import SealKeyring

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mqtt-seal keys export-device-key KID --topics F --format c-header|hex`: one symmetric key, for flashing into a
/// constrained device that runs SealLite.
struct KeysExportDeviceKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-device-key",
        abstract: "Write one symmetric key for flashing into a constrained device (SealLite), as a C header or hex.",
        discussion: """
            --topics names the device's topics: the key's scope must lie within them, so a device that is taken \
            apart cannot seal or open for anybody else's topics. Signing identities are refused (a device that \
            signs holds its own identity); so are disabled, destroyed and expired keys. The output holds the \
            secret: -o writes a new file with mode 0600 (an existing file is refused); without -o it goes to \
            stdout. The kid, suite, state and topics go to stderr.

            Exit codes: 0 written; 64 usage; 65 no such key, a signing identity, a key outside --topics, or a \
            key that cannot be used; 66 the keyring or key-encryption-key file is missing; 73 the -o file \
            exists or cannot be created; 74 an I/O error; 77 permissions or a wrong passphrase.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case cHeader = "c-header"
        case hex
    }

    @OptionGroup var options: KeyringOptions

    @Argument(help: "The key id (8 hex digits).") var kid: String

    @Option(help: ArgumentHelp("The device's topics (comma-separated filters).", valueName: "filters"))
    var topics: String

    @Option(help: "c-header (a header with the kid, the suite and the key) or hex (the key alone, 64 hex digits).")
    var format: Format = .cHeader

    @Option(
        help: ArgumentHelp(
            "The slot name in the C identifiers (SEAL_<NAME>_KEY_ID, seal_<name>_key): e.g. primary, pending.",
            valueName: "name"))
    var name: String = "device"

    @Option(
        name: [.customShort("o"), .long],
        help: ArgumentHelp("Write to this new file (mode 0600) instead of stdout.", valueName: "path"))
    var output: String?

    func validate() throws {
        let bytes = Array(name.utf8)
        let valid =
            !bytes.isEmpty && bytes.count <= 32 && bytes.first.map { (0x61...0x7A).contains($0) } == true
            && bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
        guard valid else {
            throw ValidationError("--name must be 1-32 of a-z 0-9 _, starting with a letter")
        }
    }

    func run() async throws {
        try await runReportingFailures {
            let kid = try KeyringArgument.id(kid)
            let device = try KeyringArgument.scope(topics)
            let keyring = try options.load()
            let key = try DeviceKeyExport.usableKey(kid, in: keyring, within: device)
            var text = try DeviceKeyExport.render(key, format: format, name: name, topics: device)
            defer { text.wipe() }
            if let output {
                try DeviceKeyExport.writeSecretFile(output, bytes: text)
                printError("wrote key \(KeyringID.format(kid)) to \(output)")
            } else {
                try writeStandardOutput(text)
            }
            printError(
                "key \(KeyringID.format(kid)): suite \(key.suite), state \(key.state), topics \(DeviceKeyExport.list(key.scope))"
            )
        }
    }
}

/// The checks and the formats of `export-device-key`.
enum DeviceKeyExport {
    /// The filters as the command line takes them: comma-separated.
    static func list(_ scope: TopicScope) -> String { scope.filters.map(\.description).joined(separator: ",") }

    /// The key `kid`, if a device on `device` topics may hold it.
    static func usableKey(
        _ kid: UInt32, in keyring: Keyring, within device: TopicScope
    ) throws(CLIFailure)
        -> KeyringKey
    {
        let id = KeyringID.format(kid)
        guard let key = keyring.key(kid) else {
            if keyring.identity(kid) != nil {
                throw CLIFailure(
                    .dataError,
                    "\(id) is a signing identity: a device key must be symmetric (a device that signs holds its own "
                        + "identity)")
            }
            throw CLIFailure(.dataError, "no key \(id) in the keyring")
        }
        switch key.state {
        case .disabled, .destroyed:
            throw CLIFailure(.dataError, "key \(id) is \(key.state): it neither seals nor opens")
        case .pending, .primary, .decryptOnly:
            break
        }
        guard key.sealKey != nil else { throw CLIFailure(.dataError, "key \(id) has no secret left") }
        if key.isExpired(at: .now) { throw CLIFailure(.dataError, "key \(id) has passed its notAfter") }
        let outside = key.scope.filters.filter { filter in
            !device.filters.contains { filter.isCovered(by: $0) }
        }
        guard outside.isEmpty else {
            throw CLIFailure(
                .dataError,
                "key \(id) covers \(outside.map(\.description).joined(separator: ",")) outside --topics \(list(device)): "
                    + "a device holding it could seal for those topics; add a key on the device's topics "
                    + "(keys add --topics ...)")
        }
        return key
    }

    /// The output: a C header, or the key as 64 hex digits and a newline.
    static func render(
        _ key: KeyringKey, format: KeysExportDeviceKey.Format, name: String, topics: TopicScope
    )
        throws(CLIFailure) -> [UInt8]
    {
        guard let sealKey = key.sealKey else { throw CLIFailure(.dataError, "the key has no secret left") }
        let digits = Array("0123456789abcdef".utf8)
        return sealKey.withUnsafeSecretBytes { secret in
            var out: [UInt8] = []
            out.reserveCapacity(1024)  // no reallocation: no stray copy of the secret
            func append(_ text: String) { out.append(contentsOf: text.utf8) }
            func hexByte(_ byte: UInt8) {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
            switch format {
            case .hex:
                for byte in secret { hexByte(byte) }
                out.append(0x0A)
            case .cHeader:
                let upper = name.uppercased()
                let id = KeyringID.format(key.kid)
                let guardName = "SEAL_\(upper)_KEY_\(id.uppercased())_H"
                append("/* A SealLite device key, written by mqtt-seal keys export-device-key.\n")
                // A topic may hold "*/", which would end the comment early.
                let described =
                    "kid \(id), suite \(key.suite), device topics \(list(topics)), key scope \(list(key.scope))"
                append(" * \(described.replacingOccurrences(of: "*/", with: "* /")).\n")
                append(" * SECRET: flash it, then delete this file; never commit it. */\n")
                append("#ifndef \(guardName)\n#define \(guardName)\n\n#include <stdint.h>\n\n")
                append("#define SEAL_\(upper)_KEY_ID 0x\(id)UL\n")
                append("#define SEAL_\(upper)_KEY_SUITE \"\(key.suite)\"\n\n")
                append("static const uint8_t seal_\(name)_key[\(secret.count)] = {")
                for (index, byte) in secret.enumerated() {
                    append(index % 8 == 0 ? "\n    " : " ")
                    append("0x")
                    hexByte(byte)
                    append(",")
                }
                append("\n};\n\n#endif\n")
            }
            return out
        }
    }

    /// Creates `path` with mode 0600 and writes `bytes`, through the keyring's own atomic writer (a temporary file,
    /// fsynced, then linked into place): an existing file is refused and a failed write leaves nothing behind.
    static func writeSecretFile(_ path: String, bytes: [UInt8]) throws(CLIFailure) {
        do throws(KeyringError) {
            try KeyringIO.atomicWrite(path: path, bytes: bytes, exclusive: true)
        } catch  where error.code == .alreadyExists {
            throw CLIFailure(.cannotCreate, "cannot create \(path): it already exists")
        } catch {
            throw CLIFailure(.ioError, "cannot write \(path): \(error.message)")
        }
    }
}

extension [UInt8] {
    /// Overwrites the bytes with zeros (the rendered key is a secret).
    mutating func wipe() {
        withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            explicit_bzero(base, raw.count)
        }
    }
}

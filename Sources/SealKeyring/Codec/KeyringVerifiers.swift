#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Verifier bundles

/// The exchange format for public verifying keys (`export-verifiers` / `import-signer`): JSON, versioned, no
/// secrets. See Specs/keyring.md, "Verifier bundles".
public enum KeyringVerifiers {
    static let format = "mqtt-seal-verifiers"

    /// Renders signers (typically ``Keyring/exportVerifiers()``) as a verifier bundle.
    public static func encode(_ signers: [KeyringSigner]) -> [UInt8] {
        let entries: [JSON] = signers.map { signer in
            var fields: [(String, JSON)] = [("sid", .string(KeyringID.format(signer.sid)))]
            if let name = signer.name { fields.append(("name", .string(name))) }
            fields += [
                ("publicKey", .string(KeyringCodec.base64(signer.publicKey))),
                ("topics", KeyringCodec.topics(signer.scope)),
            ]
            return .object(fields)
        }
        var out = ""
        JSON.object([("format", .string(format)), ("version", .number(1)), ("signers", .array(entries))])
            .write(to: &out, indent: 0)
        return Array((out + "\n").utf8)
    }

    /// Parses and validates a verifier bundle: every public key must be a valid Ed25519 point, sids unique and
    /// non-zero. The returned signers are `active`.
    ///
    /// - Throws: ``KeyringError``: `corrupt` for malformed content (the message says what), `unsupportedVersion`.
    public static func decode(_ bytes: [UInt8]) throws(KeyringError) -> [KeyringSigner] {
        let data = Data(bytes)
        let header: HeaderDTO
        do {
            header = try JSONDecoder().decode(HeaderDTO.self, from: data)
        } catch {
            throw KeyringError(.corrupt, "verifier file is not valid verifier JSON")
        }
        guard header.format == format else {
            throw KeyringError(.corrupt, "not a verifier file: format is not \"\(format)\"")
        }
        guard header.version == 1 else {
            throw KeyringError(
                .unsupportedVersion, "verifier format version \(header.version) is not supported (this build reads 1)")
        }
        do {
            try StrictJSON.check(bytes)
        } catch {
            throw KeyringError(.corrupt, "verifier file is malformed: \(error.message)")
        }
        let dto: VerifiersDTO
        do {
            dto = try JSONDecoder().decode(VerifiersDTO.self, from: data)
        } catch let error as DecodingError {
            throw KeyringError(.corrupt, "verifier file is malformed: \(KeyringCodec.describe(error))")
        } catch {
            throw KeyringError(.corrupt, "verifier file is malformed")
        }
        var signers: [KeyringSigner] = []
        var seen = Set<UInt32>()
        do throws(KeyringError) {
            for entry in dto.signers {
                let sid = try KeyringCodec.canonicalID(entry.sid)
                guard seen.insert(sid).inserted else {
                    throw KeyringError(.invalidArgument, "sid \(entry.sid) appears twice")
                }
                let publicKey = try KeyringCodec.decode64(entry.publicKey, "publicKey", count: 32)
                signers.append(
                    try KeyringSigner(
                        sid: sid, publicKey: publicKey, scope: KeyringCodec.scope(entry.topics), name: entry.name))
            }
        } catch {
            throw KeyringError(.corrupt, "verifier file is malformed: \(error.message)")
        }
        return signers
    }
}

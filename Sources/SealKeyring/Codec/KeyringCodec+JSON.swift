package import Seal

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension KeyringCodec {
    // MARK: JSON rendering

    static func render(_ file: FileModel) -> String {
        var kek: [(String, JSON)]
        switch file.kek {
        case .argon2id(let parameters, let salt):
            kek = [
                ("kind", .string("argon2id")), ("opslimit", .number(parameters.opsLimit)),
                ("memlimit", .number(parameters.memLimit)), ("salt", .string(base64(salt))),
            ]
        case .keyFile:
            kek = [("kind", .string("key-file"))]
        }
        let keys: [JSON] = file.keys.map { key in
            var fields: [(String, JSON)] = [
                ("kid", .string(KeyringID.format(key.kid))), ("suite", .string(key.suite.rawValue)),
                ("state", .string(key.state.rawValue)), ("created", .string(KeyringTime.format(seconds: key.created))),
            ]
            if let notAfter = key.notAfter {
                fields.append(("notAfter", .string(KeyringTime.format(seconds: notAfter))))
            }
            fields.append(("topics", topics(key.scope)))
            if let secret = key.secret { fields.append(("secret", .string(base64(secret)))) }
            return .object(fields)
        }
        let signers: [JSON] = file.signers.map { signer in
            var fields: [(String, JSON)] = [("sid", .string(KeyringID.format(signer.sid)))]
            if let name = signer.name { fields.append(("name", .string(name))) }
            fields += [
                ("publicKey", .string(base64(signer.publicKey))), ("state", .string(signer.state.rawValue)),
                ("topics", topics(signer.scope)),
            ]
            return .object(fields)
        }
        let identities: [JSON] = file.identities.map { identity in
            .object([
                ("sid", .string(KeyringID.format(identity.sid))), ("name", .string(identity.name)),
                ("publicKey", .string(base64(identity.publicKey))),
                ("created", .string(KeyringTime.format(seconds: identity.created))), ("topics", topics(identity.scope)),
                ("secret", .string(base64(identity.secret))),
            ])
        }
        var fields: [(String, JSON)] = [
            ("format", .string(format)), ("version", .number(UInt64(version))),
            ("generation", .number(file.generation)), ("kek", .object(kek)), ("check", .string(base64(file.check))),
            ("keys", .array(keys)), ("signers", .array(signers)), ("identities", .array(identities)),
        ]
        if let device = file.device {
            fields.append(
                (
                    "device",
                    .object([
                        ("id", .string(device.id)), ("sequence", .number(device.sequence)),
                        ("created", .string(KeyringTime.format(seconds: device.created))),
                        ("authorities", .array(device.authorities.map { .string(base64($0)) })),
                        ("publicKey", .string(base64(device.recipientPublicKey))),
                        ("secret", .string(base64(device.secret))),
                    ])
                ))
        }
        fields += [("mac", .string(base64(file.mac))), ("checksum", .string(base64(file.checksum)))]
        let root = JSON.object(fields)
        var out = ""
        root.write(to: &out, indent: 0)
        return out + "\n"
    }

    package static func topics(_ scope: TopicScope) -> JSON { .array(scope.filters.map { .string($0.string) }) }

    package static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    // MARK: JSON parsing

    static func parse(_ bytes: [UInt8]) throws(KeyringError) -> FileModel {
        guard !bytes.isEmpty else { throw KeyringError(.corrupt, "keyring file is empty") }
        let data = Data(bytes)
        let header: HeaderDTO
        do {
            header = try JSONDecoder().decode(HeaderDTO.self, from: data)
        } catch {
            throw KeyringError(.corrupt, "keyring file is not valid keyring JSON (truncated or damaged)")
        }
        guard header.format == format else {
            throw KeyringError(.corrupt, "not a keyring file: format is not \"\(format)\"")
        }
        guard header.version == version else {
            throw KeyringError(
                .unsupportedVersion, "keyring format version \(header.version) is not supported (this build reads 1)")
        }
        do {
            try StrictJSON.check(bytes)
        } catch {
            throw KeyringError(.corrupt, "keyring file is damaged: \(error.message)")
        }
        let dto: FileDTO
        do {
            dto = try JSONDecoder().decode(FileDTO.self, from: data)
        } catch let error as DecodingError {
            throw KeyringError(.corrupt, "keyring file is damaged: \(describe(error))")
        } catch {
            throw KeyringError(.corrupt, "keyring file is damaged")
        }
        do {
            return try model(dto)
        } catch {
            throw KeyringError(.corrupt, "keyring file is damaged: \(error.message)")
        }
    }

    package static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
            return text.isEmpty ? "top level" : text
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \(key.stringValue) at \(path(context))"
        case .typeMismatch(_, let context): return "wrong type at \(path(context))"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        case .dataCorrupted(let context): return "\(context.debugDescription) at \(path(context))"
        @unknown default: return "malformed JSON"
        }
    }

    private static func model(_ dto: FileDTO) throws(KeyringError) -> FileModel {
        let kek: KeyringKEKHeader
        switch dto.kek.kind {
        case "argon2id":
            guard let ops = dto.kek.opslimit, let mem = dto.kek.memlimit, let salt = dto.kek.salt else {
                throw KeyringError(.corrupt, "argon2id header lacks opslimit, memlimit or salt")
            }
            let saltBytes = try decode64(salt, "kek.salt", count: KeyringSodium.saltBytes)
            kek = .argon2id(try KeyringKDFParameters(opsLimit: ops, memLimit: mem), salt: saltBytes)
        case "key-file":
            guard dto.kek.opslimit == nil, dto.kek.memlimit == nil, dto.kek.salt == nil else {
                throw KeyringError(.corrupt, "key-file header has KDF fields")
            }
            kek = .keyFile
        default:
            throw KeyringError(.corrupt, "unknown kek kind \(TopicFilter.quoted(dto.kek.kind))")
        }
        var file = FileModel(
            generation: dto.generation, kek: kek,
            check: try decode64(dto.check, "check", count: KeyringSodium.hashBytes),
            keys: [], signers: [], identities: [], device: nil,
            mac: try decode64(dto.mac, "mac", count: KeyringSodium.hashBytes),
            checksum: try decode64(dto.checksum, "checksum", count: KeyringSodium.hashBytes))
        for key in dto.keys {
            file.keys.append(
                KeyModel(
                    kid: try canonicalID(key.kid), suite: try parseSuite(key.suite),
                    state: try KeyState(parsing: key.state), created: try KeyringTime.parseSeconds(key.created),
                    notAfter: try key.notAfter.map { (text: String) throws(KeyringError) in
                        try KeyringTime.parseSeconds(text)
                    },
                    scope: try scope(key.topics),
                    secret: try key.secret.map { (text: String) throws(KeyringError) in
                        try decode64(text, "secret", count: nil)
                    }))
        }
        for signer in dto.signers {
            let sid = try canonicalID(signer.sid)
            file.signers.append(
                KeyringSigner(
                    sid: sid,
                    verifyingKey: try KeyringSodium.verifyingKey(
                        sid: sid, try decode64(signer.publicKey, "publicKey", count: 32)),
                    scope: try scope(signer.topics), name: try signer.name.map(validName),
                    state: try SignerState(parsing: signer.state)))
        }
        for identity in dto.identities {
            file.identities.append(
                IdentityModel(
                    sid: try canonicalID(identity.sid),
                    name: try validName(identity.name),
                    publicKey: try decode64(identity.publicKey, "publicKey", count: 32),
                    scope: try scope(identity.topics),
                    created: try KeyringTime.parseSeconds(identity.created),
                    secret: try decode64(identity.secret, "secret", count: nil)))
        }
        if let device = dto.device {
            try KeyringDevice.validateID(device.id)
            file.device = DeviceModel(
                id: device.id, recipientPublicKey: try decode64(device.publicKey, "device.publicKey", count: 32),
                authorities: try device.authorities.map { (text: String) throws(KeyringError) in
                    try decode64(text, "device.authorities", count: 32)
                },
                sequence: device.sequence, created: try KeyringTime.parseSeconds(device.created),
                secret: try decode64(device.secret, "device.secret", count: nil))
        }
        return file
    }

    package static func validName(_ name: String) throws(KeyringError) -> String {
        try KeyringIdentity.validateName(name)
        return name
    }

    package static func scope(_ topics: [String]) throws(KeyringError) -> TopicScope {
        guard !topics.isEmpty else { throw KeyringError(.invalidArgument, "topics list is empty") }
        let scope = try TopicScope(parsing: topics)
        guard scope.filters.map({ Array($0.string.utf8) }) == topics.map({ Array($0.utf8) }) else {
            throw KeyringError(.invalidArgument, "topics are not sorted and unique")
        }
        return scope
    }

    /// Ids in the file: exactly the canonical 8 lowercase hex digits (so no two spellings of one file exist).
    package static func canonicalID(_ text: String) throws(KeyringError) -> UInt32 {
        let value = try KeyringID.parse(text)
        guard KeyringID.format(value) == text else {
            throw KeyringError(.invalidArgument, "id \(TopicFilter.quoted(text)) is not 8 lowercase hex digits")
        }
        return value
    }

    package static func parseSuite(_ text: String) throws(KeyringError) -> Suite {
        guard let suite = Suite(rawValue: text) else {
            throw KeyringError(.invalidArgument, "unknown suite \(TopicFilter.quoted(text))")
        }
        return suite
    }

    /// Strict base64: only the canonical encoding of the decoded bytes is accepted.
    package static func decode64(_ text: String, _ field: String, count: Int?) throws(KeyringError) -> [UInt8] {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else {
            throw KeyringError(.invalidArgument, "\(field) is not canonical base64")
        }
        if let count, data.count != count {
            throw KeyringError(.invalidArgument, "\(field) has \(data.count) bytes, expected \(count)")
        }
        return Array(data)
    }
}

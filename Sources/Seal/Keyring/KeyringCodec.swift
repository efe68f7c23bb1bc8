#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The keyring file format, version 1 (Specs/keyring.md): JSON with readable metadata, secrets sealed under the
/// KEK with their metadata as AAD, a keyed MAC and an unkeyed checksum over a canonical binary encoding.
enum KeyringCodec {
    static let format = "mqtt-seal-keyring"
    static let version = 1
    static let canonicalPrefix = Array("mqtt-seal-keyring/1\u{0}".utf8)

    // MARK: Decode

    struct Decoded: Sendable {
        let keyring: Keyring
        let kek: KeyringUnlockedKEK
    }

    /// Parses, verifies and decrypts a keyring file. `cached` is reused when its header equals the file's.
    static func decode(
        _ bytes: [UInt8], credential: KeyringCredential, cached: KeyringUnlockedKEK? = nil
    ) throws(KeyringError) -> Decoded {
        let file = try parse(bytes)
        let canonical = canonicalBytes(file)
        guard KeyringSodium.constantTimeEqual(KeyringSodium.hash(canonical + file.mac), file.checksum) else {
            throw KeyringError(.corrupt, "keyring file is damaged: checksum mismatch")
        }
        let kek: KeyringUnlockedKEK
        if let cached, cached.header == file.kek {
            kek = cached
        } else {
            kek = try KeyringUnlockedKEK.unlock(header: file.kek, credential: credential)
        }
        guard KeyringSodium.constantTimeEqual(kek.checkValue, file.check) else {
            switch file.kek {
            case .argon2id: throw KeyringError(.wrongCredential, "wrong passphrase for this keyring")
            case .keyFile: throw KeyringError(.wrongCredential, "wrong key-encryption key for this keyring")
            }
        }
        guard KeyringSodium.constantTimeEqual(KeyringSodium.hash(canonical, key: kek.macKey), file.mac) else {
            throw KeyringError(.corrupt, "keyring file was modified without the key: MAC mismatch")
        }
        var keyring = Keyring()
        keyring.generation = file.generation
        for key in file.keys {
            var material: SealKey?
            if let sealed = key.secret {
                guard let opened = KeyringSodium.open(sealed, key: kek.secretKey, aad: aad(key)),
                    let built = try? SealKey(id: key.kid, suite: key.suite, secret: opened)
                else {
                    throw KeyringError(.corrupt, "secret of key \(KeyringID.format(key.kid)) does not decrypt")
                }
                material = built
            }
            keyring.keys.append(
                KeyringKey(
                    kid: key.kid, suite: key.suite, state: key.state, scope: key.scope, sealKey: material,
                    createdSeconds: key.created, notAfterSeconds: key.notAfter))
        }
        keyring.signers = file.signers
        for identity in file.identities {
            guard let seed = KeyringSodium.open(identity.secret, key: kek.secretKey, aad: aad(identity)),
                let signingKey = try? SigningKey(id: identity.sid, seed: seed),
                signingKey.verifyingKey.rawRepresentation == identity.publicKey
            else {
                throw KeyringError(.corrupt, "secret of identity \(KeyringID.format(identity.sid)) does not decrypt")
            }
            keyring.identities.append(
                KeyringIdentity(
                    sid: identity.sid, name: identity.name, signingKey: signingKey, scope: identity.scope,
                    createdSeconds: identity.created))
        }
        try keyring.validate()
        return Decoded(keyring: keyring, kek: kek)
    }

    // MARK: Encode

    static func encode(_ keyring: Keyring, kek: KeyringUnlockedKEK) -> [UInt8] {
        var file = FileModel(
            generation: keyring.generation, kek: kek.header, check: kek.checkValue, keys: [], signers: keyring.signers,
            identities: [], mac: [], checksum: [])
        for key in keyring.keys {
            var entry = KeyModel(
                kid: key.kid, suite: key.suite, state: key.state, created: key.createdSeconds,
                notAfter: key.notAfterSeconds, scope: key.scope, secret: nil)
            if let material = key.sealKey {
                let aad = aad(entry)
                entry.secret = material.withUnsafeSecretBytes { KeyringSodium.seal($0, key: kek.secretKey, aad: aad) }
            }
            file.keys.append(entry)
        }
        for identity in keyring.identities {
            var entry = IdentityModel(
                sid: identity.sid, name: identity.name, publicKey: identity.publicKey, scope: identity.scope,
                created: identity.createdSeconds,
                secret: [])
            let aad = aad(entry)
            entry.secret = identity.signingKey.withUnsafeSeedBytes {
                KeyringSodium.seal($0, key: kek.secretKey, aad: aad)
            }
            file.identities.append(entry)
        }
        let canonical = canonicalBytes(file)
        file.mac = KeyringSodium.hash(canonical, key: kek.macKey)
        file.checksum = KeyringSodium.hash(canonical + file.mac)
        return Array(render(file).utf8)
    }

    // MARK: Model of the file

    struct KeyModel {
        var kid: UInt32
        var suite: Suite
        var state: KeyState
        var created: Int64
        var notAfter: Int64?
        var scope: TopicScope
        var secret: [UInt8]?
    }

    struct IdentityModel {
        var sid: UInt32
        var name: String
        var publicKey: [UInt8]
        var scope: TopicScope
        var created: Int64
        var secret: [UInt8]
    }

    struct FileModel {
        var generation: UInt64
        var kek: KeyringKEKHeader
        var check: [UInt8]
        var keys: [KeyModel]
        var signers: [KeyringSigner]
        var identities: [IdentityModel]
        var mac: [UInt8]
        var checksum: [UInt8]
    }

    // MARK: Canonical encoding (checksum, MAC, AAD)

    struct Canonical {
        var bytes: [UInt8] = []
        mutating func u8(_ value: UInt8) { bytes.append(value) }
        mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
        mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
        mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
        mutating func data(_ value: [UInt8]) {
            u32(UInt32(value.count))
            bytes.append(contentsOf: value)
        }
        mutating func string(_ value: String) { data(Array(value.utf8)) }
        mutating func optional(_ value: Int64?) {
            if let value {
                u8(1)
                i64(value)
            } else {
                u8(0)
            }
        }
        mutating func optionalString(_ value: String?) {
            if let value {
                u8(1)
                string(value)
            } else {
                u8(0)
            }
        }
        mutating func scope(_ scope: TopicScope) {
            u32(UInt32(scope.filters.count))
            for filter in scope.filters { string(filter.string) }
        }
    }

    static func canonicalBytes(_ file: FileModel) -> [UInt8] {
        var out = Canonical()
        out.bytes.append(contentsOf: canonicalPrefix)
        out.u64(file.generation)
        switch file.kek {
        case .argon2id(let parameters, let salt):
            out.u8(1)
            out.u64(parameters.opsLimit)
            out.u64(parameters.memLimit)
            out.data(salt)
        case .keyFile:
            out.u8(2)
        }
        out.data(file.check)
        out.u32(UInt32(file.keys.count))
        for key in file.keys {
            out.bytes.append(contentsOf: aad(key))
            out.string(key.state.rawValue)
            if let secret = key.secret {
                out.u8(1)
                out.data(secret)
            } else {
                out.u8(0)
            }
        }
        out.u32(UInt32(file.signers.count))
        for signer in file.signers {
            out.u32(signer.sid)
            out.data(signer.publicKey)
            out.string(signer.state.rawValue)
            out.scope(signer.scope)
            out.optionalString(signer.name)
        }
        out.u32(UInt32(file.identities.count))
        for identity in file.identities {
            out.bytes.append(contentsOf: aad(identity))
            out.data(identity.secret)
        }
        return out.bytes
    }

    /// AAD of a key's secret: its immutable metadata.
    static func aad(_ key: KeyModel) -> [UInt8] {
        var out = Canonical()
        out.string("key")
        out.u32(key.kid)
        out.string(key.suite.rawValue)
        out.i64(key.created)
        out.optional(key.notAfter)
        out.scope(key.scope)
        return out.bytes
    }

    /// AAD of an identity's seed: its immutable metadata.
    static func aad(_ identity: IdentityModel) -> [UInt8] {
        var out = Canonical()
        out.string("identity")
        out.u32(identity.sid)
        out.string(identity.name)
        out.data(identity.publicKey)
        out.i64(identity.created)
        out.scope(identity.scope)
        return out.bytes
    }

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
        let root = JSON.object([
            ("format", .string(format)), ("version", .number(UInt64(version))),
            ("generation", .number(file.generation)), ("kek", .object(kek)), ("check", .string(base64(file.check))),
            ("keys", .array(keys)), ("signers", .array(signers)), ("identities", .array(identities)),
            ("mac", .string(base64(file.mac))), ("checksum", .string(base64(file.checksum))),
        ])
        var out = ""
        root.write(to: &out, indent: 0)
        return out + "\n"
    }

    static func topics(_ scope: TopicScope) -> JSON { .array(scope.filters.map { .string($0.string) }) }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

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

    static func describe(_ error: DecodingError) -> String {
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
            keys: [], signers: [], identities: [], mac: try decode64(dto.mac, "mac", count: KeyringSodium.hashBytes),
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
        return file
    }

    static func validName(_ name: String) throws(KeyringError) -> String {
        try KeyringIdentity.validateName(name)
        return name
    }

    static func scope(_ topics: [String]) throws(KeyringError) -> TopicScope {
        guard !topics.isEmpty else { throw KeyringError(.invalidArgument, "topics list is empty") }
        let scope = try TopicScope(parsing: topics)
        guard scope.filters.map(\.string) == topics else {
            throw KeyringError(.invalidArgument, "topics are not sorted and unique")
        }
        return scope
    }

    /// Ids in the file: exactly the canonical 8 lowercase hex digits (so no two spellings of one file exist).
    static func canonicalID(_ text: String) throws(KeyringError) -> UInt32 {
        let value = try KeyringID.parse(text)
        guard KeyringID.format(value) == text else {
            throw KeyringError(.invalidArgument, "id \(TopicFilter.quoted(text)) is not 8 lowercase hex digits")
        }
        return value
    }

    static func parseSuite(_ text: String) throws(KeyringError) -> Suite {
        guard let suite = Suite(rawValue: text) else {
            throw KeyringError(.invalidArgument, "unknown suite \(TopicFilter.quoted(text))")
        }
        return suite
    }

    /// Strict base64: only the canonical encoding of the decoded bytes is accepted.
    static func decode64(_ text: String, _ field: String, count: Int?) throws(KeyringError) -> [UInt8] {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else {
            throw KeyringError(.invalidArgument, "\(field) is not canonical base64")
        }
        if let count, data.count != count {
            throw KeyringError(.invalidArgument, "\(field) has \(data.count) bytes, expected \(count)")
        }
        return Array(data)
    }
}

// MARK: - Strict DTOs

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func rejectUnknownFields(_ decoder: any Decoder, allowed: Set<String>) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    for key in container.allKeys where !allowed.contains(key.stringValue) {
        throw DecodingError.dataCorruptedError(
            forKey: key, in: container, debugDescription: "unknown field \(key.stringValue)")
    }
}

private protocol StrictDecodable: Decodable {
    associatedtype Keys: CodingKey & CaseIterable & RawRepresentable<String>
}

extension StrictDecodable {
    fileprivate static func checkFields(_ decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, allowed: Set(Keys.allCases.map(\.rawValue)))
    }
}

private struct HeaderDTO: Decodable {
    var format: String
    var version: Int
}

private struct FileDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable {
        case format, version, generation, kek, check, keys, signers, identities, mac, checksum
    }
    var generation: UInt64
    var kek: KEKDTO
    var check: String
    var keys: [KeyDTO]
    var signers: [SignerDTO]
    var identities: [IdentityDTO]
    var mac: String
    var checksum: String

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        _ = try c.decode(String.self, forKey: .format)
        _ = try c.decode(Int.self, forKey: .version)
        generation = try c.decode(UInt64.self, forKey: .generation)
        kek = try c.decode(KEKDTO.self, forKey: .kek)
        check = try c.decode(String.self, forKey: .check)
        keys = try c.decode([KeyDTO].self, forKey: .keys)
        signers = try c.decode([SignerDTO].self, forKey: .signers)
        identities = try c.decode([IdentityDTO].self, forKey: .identities)
        mac = try c.decode(String.self, forKey: .mac)
        checksum = try c.decode(String.self, forKey: .checksum)
    }
}

private struct KEKDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case kind, opslimit, memlimit, salt }
    var kind: String
    var opslimit: UInt64?
    var memlimit: UInt64?
    var salt: String?

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        kind = try c.decode(String.self, forKey: .kind)
        opslimit = try c.decodeIfPresent(UInt64.self, forKey: .opslimit)
        memlimit = try c.decodeIfPresent(UInt64.self, forKey: .memlimit)
        salt = try c.decodeIfPresent(String.self, forKey: .salt)
    }
}

private struct KeyDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case kid, suite, state, created, notAfter, topics, secret }
    var kid: String
    var suite: String
    var state: String
    var created: String
    var notAfter: String?
    var topics: [String]
    var secret: String?

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        kid = try c.decode(String.self, forKey: .kid)
        suite = try c.decode(String.self, forKey: .suite)
        state = try c.decode(String.self, forKey: .state)
        created = try c.decode(String.self, forKey: .created)
        notAfter = try c.decodeIfPresent(String.self, forKey: .notAfter)
        topics = try c.decode([String].self, forKey: .topics)
        secret = try c.decodeIfPresent(String.self, forKey: .secret)
    }
}

private struct SignerDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case sid, name, publicKey, state, topics }
    var sid: String
    var name: String?
    var publicKey: String
    var state: String
    var topics: [String]

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        sid = try c.decode(String.self, forKey: .sid)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        publicKey = try c.decode(String.self, forKey: .publicKey)
        state = try c.decode(String.self, forKey: .state)
        topics = try c.decode([String].self, forKey: .topics)
    }
}

private struct IdentityDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case sid, name, publicKey, created, topics, secret }
    var sid: String
    var name: String
    var publicKey: String
    var created: String
    var topics: [String]
    var secret: String

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        sid = try c.decode(String.self, forKey: .sid)
        name = try c.decode(String.self, forKey: .name)
        publicKey = try c.decode(String.self, forKey: .publicKey)
        created = try c.decode(String.self, forKey: .created)
        topics = try c.decode([String].self, forKey: .topics)
        secret = try c.decode(String.self, forKey: .secret)
    }
}

// MARK: - Minimal JSON writer

enum JSON {
    case string(String)
    case number(UInt64)
    case array([JSON])
    case object([(String, JSON)])

    func write(to out: inout String, indent: Int) {
        switch self {
        case .string(let text): Self.writeString(text, to: &out)
        case .number(let value): out += String(value)
        case .array(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            if items.allSatisfy({ if case .string = $0 { true } else { false } }) {
                out += "["
                for (index, item) in items.enumerated() {
                    if index > 0 { out += ", " }
                    item.write(to: &out, indent: indent)
                }
                out += "]"
                return
            }
            out += "[\n"
            for (index, item) in items.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                item.write(to: &out, indent: indent + 2)
                out += index == items.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let fields):
            out += "{\n"
            for (index, (name, value)) in fields.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                Self.writeString(name, to: &out)
                out += ": "
                value.write(to: &out, indent: indent + 2)
                out += index == fields.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    static func writeString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

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

private struct VerifiersDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case format, version, signers }
    var signers: [VerifierDTO]

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        signers = try c.decode([VerifierDTO].self, forKey: .signers)
    }
}

private struct VerifierDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case sid, name, publicKey, topics }
    var sid: String
    var name: String?
    var publicKey: String
    var topics: [String]

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        sid = try c.decode(String.self, forKey: .sid)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        publicKey = try c.decode(String.self, forKey: .publicKey)
        topics = try c.decode([String].self, forKey: .topics)
    }
}

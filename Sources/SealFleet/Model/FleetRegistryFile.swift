public import Seal
import SealKeyring

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The registry file beside the authority keyring (`<keyring>.fleet`): JSON, mode 0600, replaced atomically,
/// signed with the authority key so that a change made without it is refused (Specs/fleet.md §7.1). It holds no
/// secrets: public keys, grants and slot state.
public struct FleetRegistryFile: Sendable {
    /// The file path.
    public let path: String

    static let format = "mqtt-seal-fleet"
    static let label = Array("mqtt-seal/fleet/registry/v1".utf8) + [0]

    /// The registry of the authority keyring at `keyringPath`.
    public init(keyringPath: String) { self.path = keyringPath + ".fleet" }

    /// A registry file at an explicit path.
    public init(path: String) { self.path = path }

    /// Whether the file exists.
    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Reads and verifies the registry.
    ///
    /// - Throws: ``FleetError``: `corrupt` (malformed, or not signed by `authority`), `keyring` for I/O errors.
    public func load(authority: VerifyingKey) throws(FleetError) -> FleetRegistry {
        let bytes: [UInt8]
        do {
            (bytes, _) = try KeyringIO.readSecretFile(path: path, what: "fleet registry")
        } catch {
            throw FleetError(keyring: error)
        }
        do {
            try StrictJSON.check(bytes)
        } catch {
            throw FleetError(.corrupt, "fleet registry \(path) is damaged: \(error.message)")
        }
        let dto: RegistryDTO
        do {
            dto = try JSONDecoder().decode(RegistryDTO.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw FleetError(.corrupt, "fleet registry \(path) is damaged: \(KeyringCodec.describe(error))")
        } catch {
            throw FleetError(.corrupt, "fleet registry \(path) is not JSON")
        }
        guard dto.format == Self.format, dto.version == 1 else {
            throw FleetError(.corrupt, "\(path) is not a version 1 fleet registry")
        }
        let registry: FleetRegistry
        let signature: [UInt8]
        do throws(KeyringError) {
            registry = try model(dto)
            signature = try KeyringCodec.decode64(dto.signature, "signature", count: 64)
        } catch {
            throw FleetError(.corrupt, "fleet registry \(path) is damaged: \(error.message)")
        }
        guard authority.isValidSignature(signature, for: Self.signedBytes(registry)) else {
            throw FleetError(.corrupt, "fleet registry \(path) was changed without the authority key")
        }
        return registry
    }

    /// Signs and writes the registry atomically (mode 0600).
    ///
    /// - Throws: ``FleetError`` (`keyring` for I/O errors).
    public func save(_ registry: FleetRegistry, authority: SigningKey, exclusive: Bool = false) throws(FleetError) {
        let signature: [UInt8]
        do {
            signature = try authority.signature(for: Self.signedBytes(registry))
        } catch {
            throw FleetError(.invalidArgument, "cannot sign the fleet registry")
        }
        let members: [JSON] = registry.members.map { member in
            var fields: [(String, JSON)] = [
                ("device", .string(member.device)), ("sid", .string(KeyringID.format(member.sid))),
                ("signingKey", .string(KeyringCodec.base64(member.signingKey))),
                ("recipientKey", .string(KeyringCodec.base64(member.recipientKey))),
                ("read", .array(member.read.map { .string($0.string) })),
                ("write", .array(member.write.map { .string($0.string) })), ("state", .string(member.state.rawValue)),
                ("published", .number(member.published)), ("acked", .number(member.acked)),
            ]
            if let seen = member.lastSeen { fields.append(("lastSeen", .string(KeyringTime.format(seconds: seen)))) }
            fields.append(("digest", .string(KeyringCodec.base64(member.digest))))
            fields.append(("cleared", .number(member.cleared ? 1 : 0)))
            return .object(fields)
        }
        let retired: [JSON] = registry.retired.sorted { $0.key < $1.key }.map { kid, until in
            .object([("kid", .string(KeyringID.format(kid))), ("until", .string(KeyringTime.format(seconds: until)))])
        }
        var out = ""
        JSON.object([
            ("format", .string(Self.format)), ("version", .number(1)), ("prefix", .string(registry.topics.prefix)),
            ("sequence", .number(registry.sequence)), ("retired", .array(retired)), ("devices", .array(members)),
            ("signature", .string(KeyringCodec.base64(signature))),
        ]).write(to: &out, indent: 0)
        do {
            try KeyringIO.atomicWrite(path: path, bytes: Array((out + "\n").utf8), exclusive: exclusive)
        } catch {
            throw FleetError(keyring: error)
        }
    }

    static func signedBytes(_ registry: FleetRegistry) -> [UInt8] {
        var out = KeyringCodec.Canonical()
        out.bytes = label
        out.string(registry.topics.prefix)
        out.u64(registry.sequence)
        out.u32(UInt32(registry.retired.count))
        for (kid, until) in registry.retired.sorted(by: { $0.key < $1.key }) {
            out.u32(kid)
            out.i64(until)
        }
        out.u32(UInt32(registry.members.count))
        for member in registry.members {
            out.string(member.device)
            out.u32(member.sid)
            out.data(member.signingKey)
            out.data(member.recipientKey)
            out.u32(UInt32(member.read.count))
            for filter in member.read { out.string(filter.string) }
            out.u32(UInt32(member.write.count))
            for filter in member.write { out.string(filter.string) }
            out.string(member.state.rawValue)
            out.u64(member.published)
            out.u64(member.acked)
            out.optional(member.lastSeen)
            out.data(member.digest)
            out.u8(member.cleared ? 1 : 0)
        }
        return out.bytes
    }

    private func model(_ dto: RegistryDTO) throws(KeyringError) -> FleetRegistry {
        let topics: FleetTopics
        do {
            topics = try FleetTopics(prefix: dto.prefix)
        } catch {
            throw KeyringError(.invalidArgument, error.message)
        }
        var registry = FleetRegistry(topics: topics)
        registry.sequence = dto.sequence
        for entry in dto.retired {
            registry.retired[try KeyringCodec.canonicalID(entry.kid)] = try KeyringTime.parseSeconds(entry.until)
        }
        var seen = Set<[UInt8]>()
        for member in dto.devices {
            try KeyringDevice.validateID(member.device)
            guard seen.insert(Array(member.device.utf8)).inserted else {
                throw KeyringError(.invalidArgument, "device \(member.device) appears twice")
            }
            guard let state = FleetMember.State(rawValue: member.state) else {
                throw KeyringError(.invalidArgument, "device \(member.device) has an unknown state")
            }
            registry.append(
                FleetMember(
                    device: member.device, sid: try KeyringCodec.canonicalID(member.sid),
                    signingKey: try KeyringCodec.decode64(member.signingKey, "signingKey", count: 32),
                    recipientKey: try KeyringCodec.decode64(member.recipientKey, "recipientKey", count: 32),
                    read: try member.read.map { (text: String) throws(KeyringError) in try TopicFilter(text) },
                    write: try member.write.map { (text: String) throws(KeyringError) in try TopicFilter(text) },
                    state: state, published: member.published, acked: member.acked,
                    lastSeen: try member.lastSeen.map { (text: String) throws(KeyringError) in
                        try KeyringTime.parseSeconds(text)
                    },
                    digest: try KeyringCodec.decode64(member.digest, "digest", count: nil),
                    cleared: member.cleared != 0))
        }
        return registry
    }
}

struct RegistryDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case format, version, prefix, sequence, retired, devices, signature }
    var format: String
    var version: UInt64
    var prefix: String
    var sequence: UInt64
    var retired: [RetiredDTO]
    var devices: [MemberDTO]
    var signature: String

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(UInt64.self, forKey: .version)
        prefix = try c.decode(String.self, forKey: .prefix)
        sequence = try c.decode(UInt64.self, forKey: .sequence)
        retired = try c.decode([RetiredDTO].self, forKey: .retired)
        devices = try c.decode([MemberDTO].self, forKey: .devices)
        signature = try c.decode(String.self, forKey: .signature)
    }
}

struct RetiredDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case kid, until }
    var kid: String
    var until: String

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        kid = try c.decode(String.self, forKey: .kid)
        until = try c.decode(String.self, forKey: .until)
    }
}

struct MemberDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable {
        case device, sid, signingKey, recipientKey, read, write, state, published, acked, lastSeen, digest, cleared
    }
    var device: String
    var sid: String
    var signingKey: String
    var recipientKey: String
    var read: [String]
    var write: [String]
    var state: String
    var published: UInt64
    var acked: UInt64
    var lastSeen: String?
    var digest: String
    var cleared: UInt64

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        device = try c.decode(String.self, forKey: .device)
        sid = try c.decode(String.self, forKey: .sid)
        signingKey = try c.decode(String.self, forKey: .signingKey)
        recipientKey = try c.decode(String.self, forKey: .recipientKey)
        read = try c.decode([String].self, forKey: .read)
        write = try c.decode([String].self, forKey: .write)
        state = try c.decode(String.self, forKey: .state)
        published = try c.decode(UInt64.self, forKey: .published)
        acked = try c.decode(UInt64.self, forKey: .acked)
        lastSeen = try c.decodeIfPresent(String.self, forKey: .lastSeen)
        digest = try c.decode(String.self, forKey: .digest)
        cleared = try c.decode(UInt64.self, forKey: .cleared)
    }
}

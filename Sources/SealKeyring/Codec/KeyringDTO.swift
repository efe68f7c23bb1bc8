#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Strict DTOs

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

package func rejectUnknownFields(_ decoder: any Decoder, allowed: Set<String>) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    for key in container.allKeys where !allowed.contains(key.stringValue) {
        throw DecodingError.dataCorruptedError(
            forKey: key, in: container, debugDescription: "unknown field \(key.stringValue)")
    }
}

package protocol StrictDecodable: Decodable {
    associatedtype Keys: CodingKey & CaseIterable & RawRepresentable<String>
}

extension StrictDecodable {
    package static func checkFields(_ decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, allowed: Set(Keys.allCases.map(\.rawValue)))
    }
}

struct HeaderDTO: Decodable {
    var format: String
    var version: Int
}

struct FileDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable {
        case format, version, generation, kek, check, keys, signers, identities, device, mac, checksum
    }
    var generation: UInt64
    var kek: KEKDTO
    var check: String
    var keys: [KeyDTO]
    var signers: [SignerDTO]
    var identities: [IdentityDTO]
    var device: DeviceDTO?
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
        device = try c.decodeIfPresent(DeviceDTO.self, forKey: .device)
        mac = try c.decode(String.self, forKey: .mac)
        checksum = try c.decode(String.self, forKey: .checksum)
    }
}

struct KEKDTO: StrictDecodable {
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

package struct KeyDTO: StrictDecodable {
    package enum Keys: String, CodingKey, CaseIterable { case kid, suite, state, created, notAfter, topics, secret }
    package var kid: String
    package var suite: String
    package var state: String
    package var created: String
    package var notAfter: String?
    package var topics: [String]
    package var secret: String?

    package init(from decoder: any Decoder) throws {
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

struct SignerDTO: StrictDecodable {
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

struct DeviceDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case id, sequence, created, authorities, publicKey, secret }
    var id: String
    var sequence: UInt64
    var created: String
    var authorities: [String]
    var publicKey: String
    var secret: String

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        id = try c.decode(String.self, forKey: .id)
        sequence = try c.decode(UInt64.self, forKey: .sequence)
        created = try c.decode(String.self, forKey: .created)
        authorities = try c.decode([String].self, forKey: .authorities)
        publicKey = try c.decode(String.self, forKey: .publicKey)
        secret = try c.decode(String.self, forKey: .secret)
    }
}

struct IdentityDTO: StrictDecodable {
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

struct VerifiersDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable { case format, version, signers }
    var signers: [VerifierDTO]

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        signers = try c.decode([VerifierDTO].self, forKey: .signers)
    }
}

package struct VerifierDTO: StrictDecodable {
    package enum Keys: String, CodingKey, CaseIterable { case sid, name, publicKey, topics }
    package var sid: String
    package var name: String?
    package var publicKey: String
    package var topics: [String]

    package init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        sid = try c.decode(String.self, forKey: .sid)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        publicKey = try c.decode(String.self, forKey: .publicKey)
        topics = try c.decode([String].self, forKey: .topics)
    }
}

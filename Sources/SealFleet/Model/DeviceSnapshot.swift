import Seal
public import SealKeyring

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a key slot carries: everything one device may use now (Specs/fleet.md §4.2). A snapshot, not a command:
/// applying it replaces the device's keys and signers, so a device that missed slots needs only the latest.
public struct DeviceSnapshot: Sendable {
    /// The device the snapshot is for (must equal the slot header's).
    public let device: String
    /// The slot sequence (must equal the slot header's).
    public let sequence: UInt64
    /// When the authority issued it (UTC, whole seconds).
    public let issuedSeconds: Int64
    /// The topic keys the device is entitled to, with their secrets and states.
    public let keys: [KeyringKey]
    /// The writers whose signatures the device accepts, each on its write grants.
    public let signers: [KeyringSigner]
    /// The device's read grants (informational: the keys already reflect them).
    public let read: [TopicFilter]
    /// The device's write grants: where readers trust its signatures.
    public let write: [TopicFilter]

    static let format = "mqtt-seal-slot"
    static let version: UInt64 = 1

    /// Creates a snapshot.
    public init(
        device: String, sequence: UInt64, issuedSeconds: Int64, keys: [KeyringKey], signers: [KeyringSigner],
        read: [TopicFilter], write: [TopicFilter]
    ) {
        self.device = device
        self.sequence = sequence
        self.issuedSeconds = issuedSeconds
        self.keys = keys
        self.signers = signers
        self.read = read
        self.write = write
    }

    /// The same content with another sequence and issue time.
    public func issued(sequence: UInt64, seconds: Int64) -> DeviceSnapshot {
        DeviceSnapshot(
            device: device, sequence: sequence, issuedSeconds: seconds, keys: keys, signers: signers, read: read,
            write: write)
    }

    /// The JSON plaintext. It holds secrets: the caller wipes it after sealing.
    public func encode() -> [UInt8] {
        let keys: [JSON] = self.keys.compactMap { key in
            guard let material = key.sealKey else { return nil }
            var fields: [(String, JSON)] = [
                ("kid", .string(KeyringID.format(key.kid))), ("suite", .string(key.suite.rawValue)),
                ("state", .string(key.state.rawValue)),
                ("created", .string(KeyringTime.format(seconds: key.createdSeconds))),
            ]
            if let notAfter = key.notAfterSeconds {
                fields.append(("notAfter", .string(KeyringTime.format(seconds: notAfter))))
            }
            fields.append(("topics", KeyringCodec.topics(key.scope)))
            let secret = material.withUnsafeSecretBytes { Data($0).base64EncodedString() }
            fields.append(("secret", .string(secret)))
            return .object(fields)
        }
        let signers: [JSON] = self.signers.map { signer in
            var fields: [(String, JSON)] = [("sid", .string(KeyringID.format(signer.sid)))]
            if let name = signer.name { fields.append(("name", .string(name))) }
            fields += [
                ("publicKey", .string(KeyringCodec.base64(signer.publicKey))),
                ("topics", KeyringCodec.topics(signer.scope)),
            ]
            return .object(fields)
        }
        let root = JSON.object([
            ("format", .string(Self.format)), ("version", .number(Self.version)), ("device", .string(device)),
            ("sequence", .number(sequence)), ("issued", .string(KeyringTime.format(seconds: issuedSeconds))),
            ("keys", .array(keys)), ("signers", .array(signers)),
            ("read", .array(read.map { .string($0.string) })), ("write", .array(write.map { .string($0.string) })),
        ])
        var out = ""
        root.writeCompact(to: &out)
        return Array(out.utf8)
    }

    /// Parses and validates a snapshot plaintext.
    ///
    /// - Throws: ``FleetError`` (`slotRejected`, `malformed`) naming the first problem.
    public static func decode(_ bytes: [UInt8]) throws(FleetError) -> DeviceSnapshot {
        func malformed(_ why: String) -> FleetError {
            FleetError(slot: .malformed, "slot content is malformed: \(why)")
        }
        do {
            try StrictJSON.check(bytes)
        } catch {
            throw malformed(error.message)
        }
        let dto: SnapshotDTO
        do {
            dto = try JSONDecoder().decode(SnapshotDTO.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw malformed(KeyringCodec.describe(error))
        } catch {
            throw malformed("not JSON")
        }
        guard dto.format == format, dto.version == version else { throw malformed("not a version 1 snapshot") }
        do throws(KeyringError) {
            try KeyringDevice.validateID(dto.device)
            var keys: [KeyringKey] = []
            for key in dto.keys {
                let kid = try KeyringCodec.canonicalID(key.kid)
                let suite = try KeyringCodec.parseSuite(key.suite)
                guard let text = key.secret else {
                    throw KeyringError(.invalidArgument, "key \(KeyringID.format(kid)) has no secret")
                }
                var secret = try KeyringCodec.decode64(text, "secret", count: SealKey.byteCount)
                defer { KeyringCredential.wipe(&secret) }
                let material: SealKey
                do {
                    material = try secret.withUnsafeBytes { raw throws(SealError) in
                        try SealKey(id: kid, suite: suite, unsafeBytes: raw)
                    }
                } catch {
                    throw KeyringError(.invalidArgument, "key \(KeyringID.format(kid)) is not a \(suite) key")
                }
                let state = try KeyState(parsing: key.state)
                guard state.opens else {
                    throw KeyringError(.invalidArgument, "key \(KeyringID.format(kid)) is \(state)")
                }
                keys.append(
                    KeyringKey(
                        kid: kid, suite: suite, state: state, scope: try KeyringCodec.scope(key.topics),
                        sealKey: material, createdSeconds: try KeyringTime.parseSeconds(key.created),
                        notAfterSeconds: try key.notAfter.map { (text: String) throws(KeyringError) in
                            try KeyringTime.parseSeconds(text)
                        }))
            }
            var signers: [KeyringSigner] = []
            for signer in dto.signers {
                signers.append(
                    try KeyringSigner(
                        sid: try KeyringCodec.canonicalID(signer.sid),
                        publicKey: try KeyringCodec.decode64(signer.publicKey, "publicKey", count: 32),
                        scope: try KeyringCodec.scope(signer.topics), name: signer.name))
            }
            return DeviceSnapshot(
                device: dto.device, sequence: dto.sequence, issuedSeconds: try KeyringTime.parseSeconds(dto.issued),
                keys: keys, signers: signers,
                read: try dto.read.map { (text: String) throws(KeyringError) in
                    try TopicFilter(text)
                }, write: try dto.write.map { (text: String) throws(KeyringError) in try TopicFilter(text) })
        } catch {
            throw malformed(error.message)
        }
    }
}

struct SnapshotDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable {
        case format, version, device, sequence, issued, keys, signers, read, write
    }
    var format: String
    var version: UInt64
    var device: String
    var sequence: UInt64
    var issued: String
    var keys: [KeyDTO]
    var signers: [VerifierDTO]
    var read: [String]
    var write: [String]

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(UInt64.self, forKey: .version)
        device = try c.decode(String.self, forKey: .device)
        sequence = try c.decode(UInt64.self, forKey: .sequence)
        issued = try c.decode(String.self, forKey: .issued)
        keys = try c.decode([KeyDTO].self, forKey: .keys)
        signers = try c.decode([VerifierDTO].self, forKey: .signers)
        read = try c.decode([String].self, forKey: .read)
        write = try c.decode([String].self, forKey: .write)
    }
}

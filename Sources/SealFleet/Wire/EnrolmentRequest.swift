public import Seal
import SealKeyring

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `mqtt-seal device init` prints: the device's id and public keys, signed with its new Ed25519 key
/// (proof of possession). The operator hands it to `mqtt-seal fleet enroll` (Specs/fleet.md §2).
///
/// The signature proves the device holds the signing key. It also binds the X25519 key to it: a request whose
/// X25519 key was swapped fails, and a device that lies about its own X25519 key only locks itself out.
public struct EnrolmentRequest: Sendable, Hashable {
    /// The device id.
    public let device: String
    /// The signer id of the device's Ed25519 key (the `sid` of its signed envelopes).
    public let sid: UInt32
    /// The device's Ed25519 public key (32 bytes).
    public let signingKey: [UInt8]
    /// The device's X25519 public key, the HPKE recipient of its slots (32 bytes).
    public let recipientKey: [UInt8]
    /// When the request was made (UTC, whole seconds).
    public let createdSeconds: Int64
    /// The Ed25519 signature over the canonical bytes of the fields above, behind the label
    /// `mqtt-seal/fleet/enrolment/v1` (Specs/fleet.md §2).
    public let signature: [UInt8]

    static let format = "mqtt-seal-enrolment"
    static let label = Array("mqtt-seal/fleet/enrolment/v1".utf8) + [0]

    /// Creates and signs a request with the device's keys.
    public static func make(
        device: String, identity: SigningKey, recipientKey: [UInt8], createdSeconds: Int64
    ) throws(FleetError) -> EnrolmentRequest {
        let bytes = signedBytes(
            device: device, sid: identity.id, signingKey: identity.verifyingKey.rawRepresentation,
            recipientKey: recipientKey, created: createdSeconds)
        do {
            return EnrolmentRequest(
                device: device, sid: identity.id, signingKey: identity.verifyingKey.rawRepresentation,
                recipientKey: recipientKey, createdSeconds: createdSeconds,
                signature: try identity.signature(for: bytes))
        } catch {
            throw FleetError(.invalidArgument, "cannot sign the enrolment request")
        }
    }

    static func signedBytes(
        device: String, sid: UInt32, signingKey: [UInt8], recipientKey: [UInt8], created: Int64
    ) -> [UInt8] {
        var out = KeyringCodec.Canonical()
        out.bytes = label
        out.string(device)
        out.u32(sid)
        out.data(signingKey)
        out.data(recipientKey)
        out.i64(created)
        return out.bytes
    }

    /// One line of JSON, for a file or a terminal.
    public func encode() -> String {
        var out = ""
        JSON.object([
            ("format", .string(Self.format)), ("version", .number(1)), ("device", .string(device)),
            ("sid", .string(KeyringID.format(sid))), ("signingKey", .string(KeyringCodec.base64(signingKey))),
            ("recipientKey", .string(KeyringCodec.base64(recipientKey))),
            ("created", .string(KeyringTime.format(seconds: createdSeconds))),
            ("signature", .string(KeyringCodec.base64(signature))),
        ]).writeCompact(to: &out)
        return out
    }

    /// Parses a request and verifies its proof of possession.
    ///
    /// - Throws: ``FleetError`` (`requestRejected`) naming the first problem.
    public static func decode(_ text: String) throws(FleetError) -> EnrolmentRequest {
        do {
            try StrictJSON.check(Array(text.utf8))
        } catch {
            throw FleetError(.requestRejected, "enrolment request is malformed: \(error.message)")
        }
        let dto: RequestDTO
        do {
            dto = try JSONDecoder().decode(RequestDTO.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw FleetError(.requestRejected, "enrolment request is malformed: \(KeyringCodec.describe(error))")
        } catch {
            throw FleetError(.requestRejected, "enrolment request is not JSON")
        }
        guard dto.format == format, dto.version == 1 else {
            throw FleetError(.requestRejected, "not a version 1 enrolment request")
        }
        let request: EnrolmentRequest
        do throws(KeyringError) {
            try KeyringDevice.validateID(dto.device)
            request = EnrolmentRequest(
                device: dto.device, sid: try KeyringCodec.canonicalID(dto.sid),
                signingKey: try KeyringCodec.decode64(dto.signingKey, "signingKey", count: 32),
                recipientKey: try KeyringCodec.decode64(dto.recipientKey, "recipientKey", count: 32),
                createdSeconds: try KeyringTime.parseSeconds(dto.created),
                signature: try KeyringCodec.decode64(dto.signature, "signature", count: 64))
        } catch {
            throw FleetError(.requestRejected, "enrolment request is malformed: \(error.message)")
        }
        guard request.sid != 0, let key = try? VerifyingKey(id: request.sid, rawRepresentation: request.signingKey),
            key.isValidSignature(
                request.signature,
                for: signedBytes(
                    device: request.device, sid: request.sid, signingKey: request.signingKey,
                    recipientKey: request.recipientKey, created: request.createdSeconds))
        else {
            throw FleetError(.requestRejected, "enrolment request signature does not verify (proof of possession)")
        }
        return request
    }
}

struct RequestDTO: StrictDecodable {
    enum Keys: String, CodingKey, CaseIterable {
        case format, version, device, sid, signingKey, recipientKey, created, signature
    }
    var format: String
    var version: UInt64
    var device: String
    var sid: String
    var signingKey: String
    var recipientKey: String
    var created: String
    var signature: String

    init(from decoder: any Decoder) throws {
        try Self.checkFields(decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(UInt64.self, forKey: .version)
        device = try c.decode(String.self, forKey: .device)
        sid = try c.decode(String.self, forKey: .sid)
        signingKey = try c.decode(String.self, forKey: .signingKey)
        recipientKey = try c.decode(String.self, forKey: .recipientKey)
        created = try c.decode(String.self, forKey: .created)
        signature = try c.decode(String.self, forKey: .signature)
    }
}

@preconcurrency import Crypto
public import Seal
public import SealKeyring

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The key slot wire format, version 1 (Specs/fleet.md §4): a device's whole key state, sealed to its X25519 key
/// with HPKE and signed by the authority.
///
/// ```
/// "MSS1" | 0x01 | authority Ed25519 key (32) | len(device) (1) | device | sequence (8, BE)
///        | HPKE enc (32) | len(ciphertext) (4, BE) | ciphertext | Ed25519 signature (64)
/// ```
///
/// HPKE is RFC 9180 base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305. Its `info`
/// is `"mqtt-seal/fleet/slot/v1" 0x00 | len(device) | device | sequence`, its `aad` the header up to and including
/// `enc`; the signature covers every byte before it.
public enum KeySlot {
    /// The magic of version 1.
    public static let magic: [UInt8] = Array("MSS1".utf8)
    /// The message type byte of a slot.
    public static let slotType: UInt8 = 0x01
    /// The largest slot accepted, in bytes (a snapshot for a device with a few thousand keys and signers).
    public static let maximumSize = 4 * 1024 * 1024

    nonisolated(unsafe) static let ciphersuite = HPKE.Ciphersuite(
        kem: .Curve25519_HKDF_SHA256, kdf: .HKDF_SHA256, aead: .chaChaPoly)
    static let infoLabel: [UInt8] = Array("mqtt-seal/fleet/slot/v1".utf8) + [0]
    static let encapsulatedKeyBytes = 32
    static let signatureBytes = 64

    /// The parsed, not yet verified header of a slot.
    public struct Header: Sendable, Hashable {
        /// The Ed25519 public key of the authority that claims to have signed the slot.
        public let authority: [UInt8]
        /// The device the slot is addressed to.
        public let device: String
        /// The slot's sequence.
        public let sequence: UInt64
    }

    /// Seals and signs a snapshot for one device.
    ///
    /// - Parameters:
    ///   - plaintext: the snapshot (``DeviceSnapshot/encode()``).
    ///   - device: the device id (bound into `info` and `aad`).
    ///   - sequence: the slot's sequence (bound the same way).
    ///   - recipient: the device's X25519 public key from its enrolment.
    ///   - authority: the authority's signing key.
    /// - Throws: ``FleetError`` (`invalidArgument`) for a bad id or key.
    public static func seal(
        _ plaintext: [UInt8], device: String, sequence: UInt64, recipient: [UInt8], authority: SigningKey
    ) throws(FleetError) -> [UInt8] {
        let deviceBytes = Array(device.utf8)
        guard !deviceBytes.isEmpty, deviceBytes.count <= KeyringDevice.maximumIDLength, sequence > 0 else {
            throw FleetError(.invalidArgument, "slot needs a device id of 1 to 64 bytes and a sequence above 0")
        }
        var header = magic + [slotType] + authority.verifyingKey.rawRepresentation
        header.append(UInt8(deviceBytes.count))
        header += deviceBytes
        appendBigEndian(sequence, to: &header)
        let ciphertext: Data
        let encapsulated: Data
        do {
            let key = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: recipient)
            var sender = try HPKE.Sender(
                recipientKey: key, ciphersuite: ciphersuite, info: Data(info(device: deviceBytes, sequence: sequence)))
            encapsulated = sender.encapsulatedKey
            ciphertext = try sender.seal(plaintext, authenticating: header + Array(encapsulated))
        } catch {
            throw FleetError(.invalidArgument, "device \(device): its X25519 key does not take an HPKE slot")
        }
        var out = header + Array(encapsulated)
        appendBigEndian(UInt32(ciphertext.count), to: &out)
        out += ciphertext
        let signature: [UInt8]
        do {
            signature = try authority.signature(for: out)
        } catch {
            throw FleetError(.invalidArgument, "the authority key cannot sign: \(error)")
        }
        return out + signature
    }

    /// Parses the header without verifying anything (for routing and logs).
    ///
    /// - Throws: ``FleetError`` (`slotRejected`, `malformed`).
    public static func header(of bytes: [UInt8]) throws(FleetError) -> Header {
        try parse(bytes).header
    }

    /// Verifies and opens a slot for this device, in the order of Specs/fleet.md §5: structure, pinned
    /// authority, signature, device id, sequence, HPKE.
    ///
    /// - Parameters:
    ///   - bytes: the retained payload.
    ///   - device: the device's fleet section (id, X25519 key, pinned authorities, applied sequence).
    /// - Returns: the header and the plaintext snapshot. A slot whose sequence equals the applied one is returned
    ///   too (a redelivery); the caller treats it as already applied.
    /// - Throws: ``FleetError`` (`slotRejected`) with the ``FleetError/SlotRejection`` that failed.
    public static func open(_ bytes: [UInt8], device: KeyringDevice) throws(FleetError) -> (Header, [UInt8]) {
        let parsed = try parse(bytes)
        let header = parsed.header
        guard device.trusts(authority: header.authority) else {
            throw FleetError(slot: .unknownAuthority, "slot signed by an authority this device does not pin")
        }
        let verifying: VerifyingKey
        do {
            verifying = try VerifyingKey(id: 1, rawRepresentation: header.authority)
        } catch {
            throw FleetError(slot: .unknownAuthority, "slot names an invalid authority key")
        }
        let signed = Array(bytes[..<(bytes.count - signatureBytes)])
        guard verifying.isValidSignature(Array(bytes[(bytes.count - signatureBytes)...]), for: signed) else {
            throw FleetError(slot: .badSignature, "slot signature does not verify")
        }
        guard Array(header.device.utf8) == Array(device.id.utf8) else {
            throw FleetError(slot: .wrongDevice, "slot is for device \(header.device), not \(device.id)")
        }
        guard header.sequence >= device.sequence else {
            throw FleetError(
                slot: .staleSequence, "slot sequence \(header.sequence) is below the applied \(device.sequence)")
        }
        let plaintext: Data
        do {
            let secret = try device.recipientSecret.withUnsafeBytes { raw in
                try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw)
            }
            var recipient = try HPKE.Recipient(
                privateKey: secret, ciphersuite: ciphersuite,
                info: Data(info(device: Array(device.id.utf8), sequence: header.sequence)),
                encapsulatedKey: Data(bytes[parsed.encRange]))
            plaintext = try recipient.open(
                bytes[parsed.ciphertextRange], authenticating: bytes[..<parsed.encRange.upperBound])
        } catch {
            throw FleetError(slot: .undecryptable, "slot does not open with this device's X25519 key")
        }
        return (header, Array(plaintext))
    }

    /// A slot that passed every check of Specs/fleet.md §5.
    public struct Verified: Sendable {
        /// The header.
        public let header: Header
        /// The snapshot it carries.
        public let snapshot: DeviceSnapshot
        /// Whether its sequence equals the applied one (a redelivery: nothing to change).
        public let isRedelivery: Bool
    }

    /// The whole reader side, pure: ``open(_:device:)``, then the snapshot parsed and checked against the header
    /// (same device, same sequence). ``FleetDeviceKeyring/apply(_:)`` writes what this returns.
    ///
    /// - Throws: ``FleetError`` (`slotRejected`) with the ``FleetError/SlotRejection`` that failed.
    public static func verify(_ bytes: [UInt8], device: KeyringDevice) throws(FleetError) -> Verified {
        let (header, plaintext) = try open(bytes, device: device)
        var text = plaintext
        defer { KeyringCredential.wipe(&text) }
        let snapshot = try DeviceSnapshot.decode(text)
        guard Array(snapshot.device.utf8) == Array(header.device.utf8), snapshot.sequence == header.sequence else {
            throw FleetError(slot: .malformed, "slot content names another device or sequence than its header")
        }
        return Verified(header: header, snapshot: snapshot, isRedelivery: header.sequence == device.sequence)
    }

    // MARK: Parsing

    struct Parsed {
        let header: Header
        let encRange: Range<Int>
        let ciphertextRange: Range<Int>
    }

    static func parse(_ bytes: [UInt8]) throws(FleetError) -> Parsed {
        func malformed(_ why: String) -> FleetError { FleetError(slot: .malformed, "slot is malformed: \(why)") }
        guard bytes.count <= maximumSize else { throw malformed("larger than \(maximumSize) bytes") }
        guard bytes.count >= 4 + 1 + 32 + 1, bytes.starts(with: magic), bytes[4] == slotType else {
            throw malformed("not a version 1 key slot")
        }
        let authority = Array(bytes[5..<37])
        let idLength = Int(bytes[37])
        guard idLength >= 1, idLength <= KeyringDevice.maximumIDLength else { throw malformed("bad device id length") }
        let idEnd = 38 + idLength
        guard bytes.count >= idEnd + 8 + encapsulatedKeyBytes + 4 + signatureBytes else { throw malformed("truncated") }
        guard let device = String(validating: bytes[38..<idEnd], as: UTF8.self),
            (try? KeyringDevice.validateID(device)) != nil
        else { throw malformed("bad device id") }
        let sequence = readBigEndian(bytes, at: idEnd, as: UInt64.self)
        guard sequence > 0 else { throw malformed("sequence 0") }
        let encStart = idEnd + 8
        let encRange = encStart..<(encStart + encapsulatedKeyBytes)
        let length = Int(readBigEndian(bytes, at: encRange.upperBound, as: UInt32.self))
        let ciphertextStart = encRange.upperBound + 4
        guard length >= 16, bytes.count == ciphertextStart + length + signatureBytes else {
            throw malformed("length field does not match the size (truncated or padded)")
        }
        return Parsed(
            header: Header(authority: authority, device: device, sequence: sequence), encRange: encRange,
            ciphertextRange: ciphertextStart..<(ciphertextStart + length))
    }

    static func info(device: [UInt8], sequence: UInt64) -> [UInt8] {
        var out = infoLabel
        out.append(UInt8(device.count))
        out += device
        appendBigEndian(sequence, to: &out)
        return out
    }
}

func appendBigEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
}

func readBigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
    var value: T = 0
    for index in 0..<MemoryLayout<T>.size { value = value << 8 | T(bytes[offset + index]) }
    return value
}

// Generates Specs/vectors/fleet-slot-v1.json: `swift run fleet-vectors > Specs/vectors/fleet-slot-v1.json`.
//
// Keys, ids, sequences and clocks are fixed; the HPKE ephemeral key is fresh on every run (swift-crypto draws it
// itself), so a new run gives different slot bytes with the same meaning. Every negative vector is derived from a
// valid slot by the change it names, and its expected result follows from Specs/fleet.md §5, never from running
// the reader, so `FleetVectorTests` checks the reader against the spec.
import Crypto
import Foundation
import Seal
import SealFleet
import SealKeyring

func bytes(_ range: ClosedRange<UInt8>) -> [UInt8] { Array(range) }
func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

let authority = try SigningKey(id: 1, seed: bytes(0x10...0x2F))
let rogue = try SigningKey(id: 1, seed: bytes(0x30...0x4F))
let recipients = [
    "sensor-1": try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes(0x50...0x6F)),
    "sensor-2": try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes(0x70...0x8F)),
]
/// 2026-01-01T00:00:00Z.
let issued: Int64 = 1_767_225_600

func snapshot(_ device: String, sequence: UInt64) throws -> [UInt8] {
    let key = try SealKey(id: 0x0000_0101, suite: .xchacha20poly1305, bytes: bytes(0x90...0xAF))
    let writer = try SigningKey(id: 0x0000_0A0A, seed: bytes(0xB0...0xCF))
    return DeviceSnapshot(
        device: device, sequence: sequence, issuedSeconds: issued,
        keys: [
            KeyringKey(
                kid: key.id, suite: key.suite, state: .primary, scope: try TopicScope(parsing: ["plant/7/#"]),
                sealKey: key, createdSeconds: issued, notAfterSeconds: nil)
        ],
        signers: [
            try KeyringSigner(
                sid: writer.id, publicKey: writer.verifyingKey.rawRepresentation,
                scope: try TopicScope(parsing: ["plant/7/telemetry"]), name: "writer-7")
        ],
        read: [try TopicFilter("plant/7/#")], write: []
    ).encode()
}

@MainActor func slot(_ device: String, sequence: UInt64, plaintext: [UInt8]? = nil) throws -> [UInt8] {
    let recipient = recipients[device]!.publicKey.rawRepresentation
    return try KeySlot.seal(
        plaintext ?? snapshot(device, sequence: sequence), device: device, sequence: sequence,
        recipient: Array(recipient), authority: authority)
}

/// Replaces the signature with `signer`'s over the (possibly changed) body.
func resign(_ slot: [UInt8], by signer: SigningKey) throws -> [UInt8] {
    let body = Array(slot.dropLast(64))
    return body + (try signer.signature(for: body))
}

struct Vector {
    var comment: String
    var device: String
    var applied: UInt64
    var slot: [UInt8]
    var result: String
    var reason: String?
    var plaintext: [UInt8]?
    var flags: [String]
}

var vectors: [Vector] = []
@MainActor func valid(
    _ comment: String, _ device: String, applied: UInt64, _ slot: [UInt8], plaintext: [UInt8], _ flags: [String] = []
) {
    vectors.append(
        Vector(
            comment: comment, device: device, applied: applied, slot: slot, result: "valid", plaintext: plaintext,
            flags: flags))
}
@MainActor func invalid(
    _ comment: String, _ device: String, applied: UInt64, _ slot: [UInt8], _ reason: FleetError.SlotRejection,
    _ flags: [String] = []
) {
    vectors.append(
        Vector(
            comment: comment, device: device, applied: applied, slot: slot, result: "invalid",
            reason: reason.rawValue, flags: flags))
}

let first = try slot("sensor-1", sequence: 1)
let seventh = try slot("sensor-1", sequence: 7)
let forOther = try slot("sensor-2", sequence: 9)
valid("first slot", "sensor-1", applied: 0, first, plaintext: try snapshot("sensor-1", sequence: 1))
valid(
    "redelivery of the applied slot (equal sequence: nothing changes)", "sensor-1", applied: 1, first,
    plaintext: try snapshot("sensor-1", sequence: 1), ["Redelivery"])
valid(
    "a later slot after missed ones", "sensor-1", applied: 3, seventh, plaintext: try snapshot("sensor-1", sequence: 7))

invalid("older than the applied sequence", "sensor-1", applied: 8, seventh, .staleSequence, ["Replay"])
invalid("a genuine slot of another device", "sensor-1", applied: 0, forOther, .wrongDevice, ["Readdressed"])
var rogueHeader = first
rogueHeader.replaceSubrange(5..<37, with: rogue.verifyingKey.rawRepresentation)
invalid(
    "signed by a key the device does not pin", "sensor-1", applied: 0, try resign(rogueHeader, by: rogue),
    .unknownAuthority, ["UnknownAuthority"])
invalid(
    "names the pinned authority, signed by another key", "sensor-1", applied: 0, try resign(first, by: rogue),
    .badSignature, ["BadSignature"])
for (name, offset) in [
    ("type", 4), ("authority key", 20), ("device id", 40), ("sequence", 50), ("enc", 70), ("ciphertext", 120),
    ("signature", first.count - 10),
] {
    var flipped = first
    flipped[offset] ^= 0x01
    // A changed type, id or length byte breaks the structure before the signature is checked.
    let reason: FleetError.SlotRejection =
        name == "type" ? .malformed : name == "authority key" ? .unknownAuthority : .badSignature
    invalid("one flipped bit in the \(name)", "sensor-1", applied: 0, flipped, reason, ["BitFlip"])
}
var reAddressed = forOther
// The authority signs a header naming sensor-1 over HPKE sealed to sensor-2 (a confused authority):
// info and aad bind the device id, so it does not open.
let otherID = Array("sensor-2".utf8)
let ownID = Array("sensor-1".utf8)
if let at = (0..<(reAddressed.count - otherID.count)).first(where: {
    Array(reAddressed[$0..<($0 + otherID.count)]) == otherID
}) {
    reAddressed.replaceSubrange(at..<(at + otherID.count), with: ownID)
}
invalid(
    "re-addressed and re-signed by the authority: HPKE info/aad bind the device", "sensor-1", applied: 0,
    try resign(reAddressed, by: authority), .undecryptable, ["Readdressed"])
var otherEnc = first
otherEnc[60] ^= 0x01
invalid("enc changed and re-signed", "sensor-1", applied: 0, try resign(otherEnc, by: authority), .undecryptable)
invalid("empty", "sensor-1", applied: 0, [], .malformed, ["Truncated"])
for length in [4, 37, 38, 46, 78, 82, first.count - 64, first.count - 1] {
    invalid(
        "truncated to \(length) bytes", "sensor-1", applied: 0, Array(first.prefix(length)), .malformed, ["Truncated"])
}
invalid("a trailing byte", "sensor-1", applied: 0, first + [0], .malformed)
var magic = first
magic[0] = UInt8(ascii: "X")
invalid("wrong magic", "sensor-1", applied: 0, magic, .malformed)
var zero = first
let sequenceStart = 38 + ownID.count
for index in sequenceStart..<(sequenceStart + 8) { zero[index] = 0 }
invalid("sequence 0, re-signed", "sensor-1", applied: 0, try resign(zero, by: authority), .malformed)
invalid(
    "opens, but the content is not a snapshot", "sensor-1", applied: 0,
    try slot("sensor-1", sequence: 2, plaintext: Array("{\"format\":\"nope\"}".utf8)), .malformed, ["Content"])
invalid(
    "opens, but the snapshot names another sequence than the header", "sensor-1", applied: 0,
    try slot("sensor-1", sequence: 3, plaintext: try snapshot("sensor-1", sequence: 4)), .malformed, ["Content"])

// MARK: output

var out = "{\n"
out += "  \"algorithm\": \"mqtt-seal fleet key slot v1 (Specs/fleet.md)\",\n"
out += "  \"generator\": \"swift run fleet-vectors > Specs/vectors/fleet-slot-v1.json\",\n"
out += "  \"notes\": \"HPKE base mode X25519/HKDF-SHA256/ChaCha20-Poly1305; the enc differs on every generation.\",\n"
out += "  \"authorityPublicKey\": \"\(hex(authority.verifyingKey.rawRepresentation))\",\n"
out += "  \"devices\": {\n"
out += recipients.sorted { $0.key < $1.key }.map { id, key in
    "    \"\(id)\": {\"x25519PrivateKey\": \"\(hex(Array(key.rawRepresentation)))\", "
        + "\"x25519PublicKey\": \"\(hex(Array(key.publicKey.rawRepresentation)))\"}"
}.joined(separator: ",\n")
out += "\n  },\n"
out += "  \"numberOfTests\": \(vectors.count),\n"
out += "  \"tests\": [\n"
out += vectors.enumerated().map { index, vector in
    var fields = [
        "\"tcId\": \(index + 1)", "\"comment\": \"\(vector.comment)\"", "\"device\": \"\(vector.device)\"",
        "\"appliedSequence\": \(vector.applied)", "\"slot\": \"\(hex(vector.slot))\"",
        "\"result\": \"\(vector.result)\"",
    ]
    if let reason = vector.reason { fields.append("\"reason\": \"\(reason)\"") }
    if let plaintext = vector.plaintext { fields.append("\"snapshot\": \"\(hex(plaintext))\"") }
    fields.append("\"flags\": [" + vector.flags.map { "\"\($0)\"" }.joined(separator: ", ") + "]")
    return "    {" + fields.joined(separator: ", ") + "}"
}.joined(separator: ",\n")
out += "\n  ]\n}\n"
print(out, terminator: "")

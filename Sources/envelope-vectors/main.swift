// Generates Specs/vectors/envelope-v1.json, deterministically: `swift run envelope-vectors > Specs/vectors/envelope-v1.json`.
//
// Every envelope is made by the real `Sealer` (with libsodium's CSPRNG made deterministic and a fixed
// clock), then the negative vectors are derived from valid ones by the change each one names. The expected
// `result` of every vector follows from how it was built and from the rules of Specs/envelope.md — never from
// running the `Opener` — so the conformance test (`EnvelopeVectorTests`) checks the reader against the spec.
import Seal

DeterministicRandom.install()

/// 2026-01-01T00:00:00Z: every sealer's clock; receivers open one second later unless a vector says otherwise.
let sealTime: UInt64 = 1_767_225_600_000
let openTime = sealTime + 1_000

func bytes(_ range: ClosedRange<UInt8>) -> [UInt8] { Array(range) }

// MARK: keys of the receiver (group "keys"/"signers") and of senders it does not know

let xchacha = try SealKey(id: 0x0000_0101, suite: .xchacha20poly1305, bytes: bytes(0x00...0x1F))
let aes = try SealKey(id: 0x0000_0202, suite: .aes256gcm, bytes: bytes(0x20...0x3F))
let hmac = try SealKey(id: 0x0000_0303, suite: .hmacSHA256, bytes: bytes(0x40...0x5F))
let stranger = try SealKey(id: 0x0000_0909, suite: .xchacha20poly1305, bytes: bytes(0x60...0x7F))
let signer = try SigningKey(id: 0x0000_0A0A, seed: bytes(0xA0...0xBF))
let untrusted = try SigningKey(id: 0x0000_0B0B, seed: bytes(0xC0...0xDF))

var generator = VectorWriter()

/// A sealer with the fixed clock.
func sealer(_ key: SealKey?, signing: SigningKey? = nil, sender: UInt32 = 0x0000_5151) throws -> Sealer {
    if let key {
        return try Sealer(key: key, signingKey: signing, senderID: signing == nil ? sender : nil) { sealTime }
    }
    return try Sealer(signingKey: signing!) { sealTime }
}

let topic = "plant/line-4/press-17/telemetry"
let payload = Array("{\"temperature\":21.5,\"unit\":\"C\"}".utf8)

// MARK: positive vectors: every suite x mode, and the variations a reader must get right

let modes: [(String, Sealer)] = [
    ("xchacha20poly1305 encrypt", try sealer(xchacha)),
    ("xchacha20poly1305 encrypt+sign", try sealer(xchacha, signing: signer)),
    ("aes256gcm encrypt", try sealer(aes)),
    ("aes256gcm encrypt+sign", try sealer(aes, signing: signer)),
    ("hmac-sha256 mac", try sealer(hmac)),
    ("ed25519 sign", try sealer(nil, signing: signer)),
]
var base: [String: (Sealer, [UInt8])] = [:]
for (name, s) in modes {
    let envelope = try s.seal(payload, topic: topic)
    base[name] = (s, envelope)
    generator.valid("\(name): a telemetry payload", envelope: envelope, topic: topic, payload: payload, sealer: s)
}
for (name, s) in modes {
    let context = Array("tenant=acme;schema=3".utf8)
    generator.valid(
        "\(name): with application context", envelope: try s.seal(payload, topic: topic, context: context),
        topic: topic, context: context, payload: payload, sealer: s)
}
for (name, s) in modes {
    generator.valid(
        "\(name): empty payload", envelope: try s.seal([], topic: "a/b"), topic: "a/b", payload: [], sealer: s)
}
do {
    let (s, _) = base["xchacha20poly1305 encrypt"]!
    let unicodeTopic = "ünïcödé/温度/🌡"
    generator.valid(
        "xchacha20poly1305 encrypt: UTF-8 topic", envelope: try s.seal(payload, topic: unicodeTopic),
        topic: unicodeTopic, payload: payload, sealer: s)
    let large = (0..<1500).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    generator.valid(
        "xchacha20poly1305 encrypt: 1500-byte payload", envelope: try s.seal(large, topic: topic), topic: topic,
        payload: large, sealer: s)
    let retained = try s.seal(payload, topic: topic, retain: true)
    generator.valid(
        "retained copy delivered 23 h later (retained max age 24 h)", envelope: retained, topic: topic,
        payload: payload, sealer: s, retained: true, now: sealTime + 23 * 3_600_000)
    generator.valid(
        "sealed for retain, delivered live", envelope: try s.seal(payload, topic: topic, retain: true), topic: topic,
        payload: payload, sealer: s)
    let first = try s.seal(payload, topic: topic)
    let second = try s.seal(payload, topic: topic)
    generator.valid(
        "reordered: an older message after a newer one (within the window)", envelope: first, topic: topic,
        payload: payload, sealer: s, before: [second])
    generator.valid(
        "59 s old: within the 60 s freshness window", envelope: try s.seal(payload, topic: topic), topic: topic,
        payload: payload, sealer: s, now: sealTime + 59_000)
    generator.valid(
        "clock skew: 9 s in the future (skew bound 10 s)", envelope: try s.seal(payload, topic: topic),
        topic: topic, payload: payload, sealer: s, now: sealTime - 9_000)
}

// MARK: negative vectors, one or more per error class

/// `envelope` with bit `bit` (0 = least significant) of byte `offset` flipped.
func flip(_ envelope: [UInt8], _ offset: Int, bit: Int = 0) -> [UInt8] {
    var copy = envelope
    copy[offset] ^= UInt8(1) << bit
    return copy
}

let (encryptSealer, encrypted) = base["xchacha20poly1305 encrypt"]!
let signedEnvelope = base["xchacha20poly1305 encrypt+sign"]!.1
let aesEnvelope = base["aes256gcm encrypt"]!.1
let macEnvelope = base["hmac-sha256 mac"]!.1
let signOnly = base["ed25519 sign"]!.1
let tagged = { (name: String) in "xchacha20poly1305 encrypt: \(name)" }

// Byte 0: version and mode.
generator.invalid(tagged("version nibble 1 -> 3"), envelope: flip(encrypted, 0, bit: 5), topic: topic, .malformed)
generator.invalid(tagged("version nibble 1 -> 0"), envelope: flip(encrypted, 0, bit: 4), topic: topic, .malformed)
generator.invalid(tagged("mode 1 -> 0 (undefined)"), envelope: flip(encrypted, 0, bit: 0), topic: topic, .malformed)
generator.invalid(
    tagged("mode 1 -> 3 (mac), not allowed for an AEAD key"), envelope: flip(encrypted, 0, bit: 1), topic: topic,
    .modeNotAllowed)
generator.invalid(
    tagged("mode 1 -> 5 (undefined)"), envelope: flip(encrypted, 0, bit: 2), topic: topic, .malformed)
generator.invalid(
    tagged("retain flag set after sealing"), envelope: flip(encrypted, 0, bit: 3), topic: topic,
    .authenticationFailed)
// kid, sid, seq.
generator.invalid(tagged("kid bit flipped"), envelope: flip(encrypted, 4), topic: topic, .unknownKey)
generator.invalid(tagged("sid bit flipped"), envelope: flip(encrypted, 8), topic: topic, .authenticationFailed)
generator.invalid(
    tagged("seq counter bit flipped"), envelope: flip(encrypted, 16), topic: topic, .authenticationFailed)
generator.invalid(
    tagged("seq timestamp high bit flipped: far future"), envelope: flip(encrypted, 9, bit: 7), topic: topic, .future)
generator.invalid(
    tagged("seq timestamp bit 28 cleared: 74.6 h earlier, stale"),
    envelope: flip(encrypted, 11, bit: 4), topic: topic, .stale)
// Nonce, ciphertext, tag.
generator.invalid(tagged("nonce bit flipped"), envelope: flip(encrypted, 17), topic: topic, .authenticationFailed)
generator.invalid(
    tagged("ciphertext bit flipped"), envelope: flip(encrypted, 25), topic: topic, .authenticationFailed)
generator.invalid(
    tagged("tag bit flipped"), envelope: flip(encrypted, encrypted.count - 1, bit: 7), topic: topic,
    .authenticationFailed)
// Lengths.
generator.invalid("empty input", envelope: [], topic: topic, .malformed)
generator.invalid(tagged("truncated inside the header"), envelope: Array(encrypted[..<16]), topic: topic, .malformed)
generator.invalid(
    tagged("truncated below header + nonce + tag"), envelope: Array(encrypted[..<40]), topic: topic, .malformed)
generator.invalid(
    tagged("last byte cut"), envelope: Array(encrypted.dropLast()), topic: topic, .authenticationFailed)
generator.invalid(
    tagged("one trailing byte"), envelope: encrypted + [0], topic: topic, .authenticationFailed)
generator.invalid(
    "encrypt+sign: one trailing byte (the AEAD, checked first, sees a shifted ciphertext)",
    envelope: signedEnvelope + [0], topic: topic, .authenticationFailed)
generator.invalid("ed25519 sign: one trailing byte", envelope: signOnly + [0], topic: topic, .badSignature)
// Topic and context binding.
generator.invalid(tagged("wrong topic"), envelope: encrypted, topic: topic + "x", .authenticationFailed)
generator.invalid(
    tagged("context given, none was sealed"), envelope: encrypted, topic: topic, context: [1], .authenticationFailed)
generator.invalid("hmac-sha256 mac: wrong topic", envelope: macEnvelope, topic: "plant/other", .authenticationFailed)
generator.invalid("ed25519 sign: wrong topic", envelope: signOnly, topic: "plant/other", .badSignature)
// Keys and modes.
generator.invalid(
    "unknown kid (a key the receiver does not hold)",
    envelope: try sealer(stranger).seal(payload, topic: topic), topic: topic, .unknownKey)
do {
    // The HMAC key's id in an encrypt-mode header: looked up by kid, then refused for the mode.
    var moved = encrypted
    moved.replaceSubrange(1..<5, with: [0x00, 0x00, 0x03, 0x03])
    generator.invalid(
        "encrypt mode naming an HMAC key (mode the key does not allow)", envelope: moved, topic: topic,
        .modeNotAllowed)
    var asMac = macEnvelope
    asMac[0] = asMac[0] & 0xF0 | 1
    generator.invalid(
        "hmac-sha256: mode changed to encrypt (mode the key does not allow)", envelope: asMac, topic: topic,
        .modeNotAllowed)
}
// MAC and AES specifics.
generator.invalid(
    "hmac-sha256 mac: payload bit flipped", envelope: flip(macEnvelope, 20), topic: topic, .authenticationFailed)
generator.invalid(
    "hmac-sha256 mac: tag bit flipped", envelope: flip(macEnvelope, macEnvelope.count - 1), topic: topic,
    .authenticationFailed)
generator.invalid(
    "aes256gcm encrypt: IV bit flipped", envelope: flip(aesEnvelope, 20), topic: topic, .authenticationFailed)
generator.invalid(
    "aes256gcm encrypt: tag bit flipped", envelope: flip(aesEnvelope, aesEnvelope.count - 1), topic: topic,
    .authenticationFailed)
// Signatures.
generator.invalid(
    "encrypt+sign: signature bit flipped", envelope: flip(signedEnvelope, signedEnvelope.count - 1), topic: topic,
    .badSignature)
generator.invalid(
    "encrypt+sign: ciphertext bit flipped (AEAD checked first)", envelope: flip(signedEnvelope, 30), topic: topic,
    .authenticationFailed)
generator.invalid(
    "ed25519 sign: payload bit flipped", envelope: flip(signOnly, 20), topic: topic, .badSignature)
generator.invalid(
    "ed25519 sign: signature bit flipped", envelope: flip(signOnly, signOnly.count - 1), topic: topic, .badSignature)
generator.invalid(
    "ed25519 sign: truncated below header + signature", envelope: Array(signOnly[..<80]), topic: topic, .malformed)
generator.invalid(
    "ed25519 sign: kid differs from sid", envelope: flip(signOnly, 4), topic: topic, .malformed)
generator.invalid(
    "ed25519 sign: untrusted signer", envelope: try sealer(nil, signing: untrusted).seal(payload, topic: topic),
    topic: topic, .untrustedSigner)
generator.invalid(
    "xchacha20poly1305 encrypt+sign: untrusted signer",
    envelope: try sealer(xchacha, signing: untrusted).seal(payload, topic: topic), topic: topic, .untrustedSigner)
// Freshness and replay.
generator.invalid(
    tagged("replay of an accepted message"), envelope: encrypted, topic: topic, .replayed, before: [encrypted])
generator.invalid(
    "ed25519 sign: replay of an accepted message", envelope: signOnly, topic: topic, .replayed, before: [signOnly])
generator.invalid(
    tagged("61 s old: stale"), envelope: try encryptSealer.seal(payload, topic: topic), topic: topic, .stale,
    now: sealTime + 61_000)
generator.invalid(
    tagged("11 s in the future: beyond the skew bound"), envelope: try encryptSealer.seal(payload, topic: topic),
    topic: topic, .future, now: sealTime - 11_000)
do {
    let retained = try encryptSealer.seal(payload, topic: topic, retain: true)
    generator.invalid(
        "retained copy older than the retained max age (25 h)", envelope: retained, topic: topic, .stale,
        retained: true, now: sealTime + 25 * 3_600_000)
    generator.invalid(
        "retained delivery of a message not sealed for retain", envelope: try encryptSealer.seal(payload, topic: topic),
        topic: topic, .malformed, retained: true)
}
do {
    // A window of 2: after 4 newer messages the floor passes the oldest one, which is then refused.
    let old = try encryptSealer.seal(payload, topic: topic)
    let newer = try (0..<4).map { _ in try encryptSealer.seal(payload, topic: topic) }
    generator.invalid(
        tagged("older than the replay window (window 2, 4 newer accepted)"), envelope: old, topic: topic,
        .outsideWindow, before: newer, window: 2)
}

// The exact freshness edges (Specs/envelope.md §6): accepted at 60,000 ms old and 10,000 ms ahead, one more
// millisecond is stale / future.
do {
    let envelope = try encryptSealer.seal(payload, topic: topic)
    generator.valid(
        tagged("exactly 60,000 ms old: still fresh"), envelope: envelope, topic: topic, payload: payload,
        sealer: encryptSealer, now: sealTime + 60_000)
    generator.invalid(
        tagged("60,001 ms old: stale"), envelope: envelope, topic: topic, .stale, now: sealTime + 60_001)
    generator.valid(
        tagged("exactly 10,000 ms in the future: within the skew bound"), envelope: envelope, topic: topic,
        payload: payload, sealer: encryptSealer, now: sealTime - 10_000)
    generator.invalid(
        tagged("10,001 ms in the future: beyond the skew bound"), envelope: envelope, topic: topic, .future,
        now: sealTime - 10_001)
    // A reader's topic above 65535 bytes is rejected as badTopic before anything else is looked at.
    generator.invalid(
        tagged("local topic of 65536 bytes: badTopic"), envelope: envelope,
        topic: String(repeating: "t", count: 65_536), .badTopic)
}

print(generator.json(), terminator: "")

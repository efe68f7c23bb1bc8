import Seal

/// Collects vectors and writes them as Wycheproof-style JSON, byte for byte the same on every run
/// (fixed key order, no floating point, no dates).
struct VectorWriter {
    /// One test case.
    struct Vector {
        var comment: String
        var envelope: [UInt8]
        var topic: String
        var context: [UInt8]?
        var retained: Bool
        var now: UInt64
        var before: [[UInt8]]
        var window: Int
        var result: String
        var payload: [UInt8]?
        var kid: UInt32?
        var sid: UInt32?
        var signer: UInt32?
    }

    private(set) var vectors: [Vector] = []

    mutating func valid(
        _ comment: String, envelope: [UInt8], topic: String, context: [UInt8]? = nil, payload: [UInt8],
        sealer: Sealer, retained: Bool = false, now: UInt64 = openTime, before: [[UInt8]] = []
    ) {
        vectors.append(
            Vector(
                comment: comment, envelope: envelope, topic: topic, context: context, retained: retained, now: now,
                before: before, window: 1024, result: "valid", payload: payload, kid: sealer.keyID,
                sid: sealer.senderID, signer: sealer.mode.isSigned ? sealer.senderID : nil))
    }

    mutating func invalid(
        _ comment: String, envelope: [UInt8], topic: String, context: [UInt8]? = nil, _ reason: SealError.Reason,
        retained: Bool = false, now: UInt64 = openTime, before: [[UInt8]] = [], window: Int = 1024
    ) {
        vectors.append(
            Vector(
                comment: comment, envelope: envelope, topic: topic, context: context, retained: retained, now: now,
                before: before, window: window, result: reason.description))
    }

    /// The whole file.
    func json() -> String {
        var out = "{\n"
        out += "  \"algorithm\": \"mqtt-seal envelope v1\",\n"
        out += "  \"generator\": \"swift run envelope-vectors > Specs/vectors/envelope-v1.json\",\n"
        out += "  \"specification\": \"Specs/envelope.md\",\n"
        out += "  \"numberOfTests\": \(vectors.count),\n"
        out += "  \"notes\": {\n"
        let notes = [
            (
                "result",
                "'valid', or the rejection reason class of Specs/envelope.md (every rejection has the same error code)"
            ),
            ("now", "the receiver's clock, Unix milliseconds; sealing happened at 1767225600000"),
            ("before", "envelopes the receiver opened (successfully) before this one, in order"),
            ("retained", "true when the message is delivered as a retained copy"),
            ("replayPolicy", "maxAge 60000 ms, maxFutureSkew 10000 ms, retainedMaxAge 86400000 ms; window per test"),
        ]
        out += notes.map { "    \(quote($0.0)): \(quote($0.1))" }.joined(separator: ",\n")
        out += "\n  },\n"
        out += "  \"testGroups\": [\n    {\n"
        out += "      \"type\": \"EnvelopeOpen\",\n"
        out += "      \"keys\": [\n"
        out +=
            [
                key(xchacha, bytes(0x00...0x1F)), key(aes, bytes(0x20...0x3F)), key(hmac, bytes(0x40...0x5F)),
            ]
            .joined(separator: ",\n")
        out += "\n      ],\n"
        out += "      \"signers\": [\n"
        out += "        {\"sid\": \(signer.id), \"publicKey\": \(quote(hex(signer.verifyingKey.rawRepresentation)))}\n"
        out += "      ],\n"
        out += "      \"tests\": [\n"
        out += vectors.enumerated().map { entry(id: $0.offset + 1, $0.element) }.joined(separator: ",\n")
        out += "\n      ]\n    }\n  ]\n}\n"
        return out
    }

    private func key(_ key: SealKey, _ secret: [UInt8]) -> String {
        "        {\"kid\": \(key.id), \"suite\": \(quote(key.suite.rawValue)), \"key\": \(quote(hex(secret)))}"
    }

    private func entry(id: Int, _ v: Vector) -> String {
        var fields: [(String, String)] = [
            ("tcId", "\(id)"),
            ("comment", quote(v.comment)),
            ("topic", quote(v.topic)),
            ("context", v.context.map { quote(hex($0)) } ?? "null"),
            ("retained", v.retained ? "true" : "false"),
            ("now", "\(v.now)"),
            ("window", "\(v.window)"),
            ("before", "[" + v.before.map { quote(hex($0)) }.joined(separator: ", ") + "]"),
            ("envelope", quote(hex(v.envelope))),
        ]
        if let payload = v.payload { fields.append(("payload", quote(hex(payload)))) }
        if let kid = v.kid { fields.append(("kid", "\(kid)")) }
        if let sid = v.sid { fields.append(("sid", "\(sid)")) }
        if v.result == "valid" { fields.append(("signer", v.signer.map { "\($0)" } ?? "null")) }
        fields.append(("result", quote(v.result)))
        return "        {\n" + fields.map { "          \(quote($0.0)): \($0.1)" }.joined(separator: ",\n")
            + "\n        }"
    }
}

/// Lower-case hex.
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// A JSON string literal (escapes quotes, backslashes and control characters; UTF-8 passes through).
func quote(_ string: String) -> String {
    var out = "\""
    for scalar in string.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case let c where c.value < 0x20:
            out +=
                "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

import Foundation
import Seal
import SealLite
import Testing

/// SealLite (the C99 envelope in Sources/SealLite) against Specs/vectors/envelope-v1.json, and against the Swift
/// `Sealer` and `Opener`: the same vectors as `EnvelopeVectorTests`, through the C API.
@Suite("SealLite vectors (Specs/vectors/envelope-v1.json)")
struct SealLiteVectorTests {
    /// The package root: #filePath = <root>/Tests/SealLiteTests/SealLiteVectorTests.swift.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let file = root.appendingPathComponent("Specs/vectors/envelope-v1.json")
    /// The signer's seed is not in the JSON; `Sources/envelope-vectors/main.swift` fixes it.
    static let signerSeed = Array(UInt8(0xA0)...UInt8(0xBF))
    static let signerID: UInt32 = 0x0A0A

    struct Vector {
        var id: Int
        var comment: String
        var topic: [UInt8]
        var context: [UInt8]?
        var retained: Bool
        var now: UInt64
        var window: Int
        var before: [[UInt8]]
        var envelope: [UInt8]
        var payload: [UInt8]?
        var kid: UInt32
        var sid: UInt32
        var signer: UInt32?
        var result: String
    }

    struct VectorFileError: Error, CustomStringConvertible {
        var description: String
    }

    /// Hex to bytes, or a thrown error.
    static func bytes(_ value: Any?, _ name: String) throws -> [UInt8] {
        guard let string = value as? String, string.utf8.count % 2 == 0 else {
            throw VectorFileError(description: "\(name): not hex")
        }
        var out: [UInt8] = []
        var index = string.startIndex
        while index < string.endIndex {
            let next = string.index(index, offsetBy: 2)
            guard let byte = UInt8(string[index..<next], radix: 16) else {
                throw VectorFileError(description: "\(name): bad hex digit")
            }
            out.append(byte)
            index = next
        }
        return out
    }

    static func suite(_ name: String) throws -> seallite_suite {
        switch name {
        case "xchacha20poly1305": SEALLITE_SUITE_XCHACHA20POLY1305
        case "aes256gcm": SEALLITE_SUITE_AES256GCM
        case "hmac-sha256": SEALLITE_SUITE_HMAC_SHA256
        default: throw VectorFileError(description: "unknown suite \(name)")
        }
    }

    /// The receiver's keys and signers in C memory that outlives every call (sealers and openers keep pointers).
    final class Tables {
        let keys: UnsafeMutablePointer<seallite_key>
        let keyCount: Int
        let signers: UnsafeMutablePointer<seallite_signer>
        let signerCount: Int
        let signingKey: UnsafeMutablePointer<seallite_signing_key>
        let scratch: UnsafeMutablePointer<UInt8>
        let scratchCount = 8192

        init(keys: [seallite_key], signers: [seallite_signer]) {
            self.keys = .allocate(capacity: max(keys.count, 1))
            self.keys.initialize(from: keys, count: keys.count)
            keyCount = keys.count
            self.signers = .allocate(capacity: max(signers.count, 1))
            self.signers.initialize(from: signers, count: signers.count)
            signerCount = signers.count
            signingKey = .allocate(capacity: 1)
            signingKey.initialize(to: seallite_signing_key())
            scratch = .allocate(capacity: scratchCount)
        }

        deinit {
            keys.deallocate()
            signers.deallocate()
            signingKey.deallocate()
            scratch.deallocate()
        }

        func key(_ kid: UInt32) -> UnsafeMutablePointer<seallite_key>? {
            (0..<keyCount).first { keys[$0].kid == kid }.map { keys + $0 }
        }
    }

    /// Hands out the nonce bytes a vector's sealer drew (the `random` callback's context).
    final class FixedRandom {
        var bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    static func load() throws -> (Tables, [Vector]) {
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        let groups = try #require(json["testGroups"] as? [[String: Any]])
        try #require(groups.count == 1)
        var keys: [seallite_key] = []
        for entry in try #require(groups[0]["keys"] as? [[String: Any]]) {
            var key = seallite_key()
            key.kid = UInt32(try #require(entry["kid"] as? Int))
            key.suite = try suite(try #require(entry["suite"] as? String))
            let material = try bytes(entry["key"], "key")
            try #require(material.count == 32)
            withUnsafeMutableBytes(of: &key.bytes) { $0.copyBytes(from: material) }
            keys.append(key)
        }
        var signers: [seallite_signer] = []
        for entry in try #require(groups[0]["signers"] as? [[String: Any]]) {
            var signer = seallite_signer()
            signer.sid = UInt32(try #require(entry["sid"] as? Int))
            let publicKey = try bytes(entry["publicKey"], "publicKey")
            withUnsafeMutableBytes(of: &signer.public_key) { $0.copyBytes(from: publicKey) }
            signers.append(signer)
        }
        var vectors: [Vector] = []
        for test in try #require(groups[0]["tests"] as? [[String: Any]]) {
            vectors.append(
                Vector(
                    id: test["tcId"] as? Int ?? -1, comment: test["comment"] as? String ?? "",
                    topic: Array(try #require(test["topic"] as? String).utf8),
                    context: try (test["context"] as? String).map { try bytes($0, "context") },
                    retained: try #require(test["retained"] as? Bool),
                    now: UInt64(try #require(test["now"] as? Int)), window: try #require(test["window"] as? Int),
                    before: try (try #require(test["before"] as? [String])).map { try bytes($0, "before") },
                    envelope: try bytes(test["envelope"], "envelope"),
                    payload: try (test["payload"] as? String).map { try bytes($0, "payload") },
                    kid: UInt32(test["kid"] as? Int ?? 0), sid: UInt32(test["sid"] as? Int ?? 0),
                    signer: (test["signer"] as? Int).map { UInt32($0) },
                    result: try #require(test["result"] as? String)))
        }
        #expect(vectors.count == json["numberOfTests"] as? Int)
        let tables = Tables(keys: keys, signers: signers)
        #expect(seallite_sodium_init() == SEALLITE_OK.rawValue)
        var publicKey = [UInt8](repeating: 0, count: 32)
        let backend = try #require(seallite_sodium_backend())
        let derived = signerSeed.withUnsafeBufferPointer { seed in
            withUnsafeMutablePointer(to: &tables.signingKey.pointee.secret_key) { secret in
                secret.withMemoryRebound(to: UInt8.self, capacity: 64) { secret in
                    backend.pointee.seed_keypair!(nil, seed.baseAddress, &publicKey, secret)
                }
            }
        }
        tables.signingKey.pointee.id = signerID
        #expect(derived == SEALLITE_OK.rawValue)
        #expect(
            withUnsafeBytes(of: tables.signers[0].public_key) { Array($0) } == publicKey,
            "the seed gives the vectors' signer")
        return (tables, vectors)
    }

    /// The AES-256-GCM backend needs AES-NI; without it those vectors are skipped (and must say unsupported).
    static var aesAvailable: Bool {
        var out = [UInt8](repeating: 0, count: 16)
        let key = [UInt8](repeating: 0, count: 32)
        let nonce = [UInt8](repeating: 0, count: 12)
        return seallite_sodium_backend().pointee.aead_seal!(
            nil, SEALLITE_SUITE_AES256GCM, key, nonce, nil, 0, nil, 0, &out) == SEALLITE_OK.rawValue
    }

    @Test func everyValidVectorSealsByteForByte() throws {
        let (tables, vectors) = try Self.load()
        var sealed = 0
        for vector in vectors where vector.result == "valid" {
            let envelope = vector.envelope
            let mode = envelope[0] & 7
            let key = mode == 4 ? nil : tables.key(vector.kid)
            #expect(mode == 4 || key != nil, "tcId \(vector.id): no key \(vector.kid)")
            if key?.pointee.suite == SEALLITE_SUITE_AES256GCM && !Self.aesAvailable { continue }
            let random = FixedRandom(Array(envelope[17...]))
            var sealer = seallite_sealer()
            let signing: UnsafePointer<seallite_signing_key>? =
                mode == 2 || mode == 4 ? UnsafePointer(tables.signingKey) : nil
            var status = seallite_sealer_init(
                &sealer, key.map { UnsafePointer($0) }, signing, vector.sid, seallite_sodium_backend(), takeFixedRandom,
                Unmanaged.passUnretained(random).toOpaque())
            try #require(status == SEALLITE_OK.rawValue, "tcId \(vector.id): sealer_init \(status)")
            // The vector's clock and counter: seq = max(now << 16, last + 1) gives exactly its seq.
            let seq = envelope[9..<17].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            sealer.sequence.last = seq - 1
            sealer.scratch = tables.scratch
            sealer.scratch_len = tables.scratchCount
            let payload = vector.payload ?? []
            let context = vector.context ?? []
            var size = 0
            var scratch = 0
            status = seallite_sealed_size(&sealer, payload.count, vector.topic.count, context.count, &size, &scratch)
            #expect(status == SEALLITE_OK.rawValue && size == envelope.count, "tcId \(vector.id): sealed size")
            var out = [UInt8](repeating: 0, count: size)
            var written = 0
            status = withExtendedLifetime(random) {
                seallite_seal(
                    &sealer, seq >> 16, payload, payload.count, vector.topic, vector.topic.count, context,
                    context.count, Int32(envelope[0] & 8), &out, size, &written)
            }
            #expect(status == SEALLITE_OK.rawValue, "tcId \(vector.id): seal \(status)")
            #expect(written == envelope.count && out == envelope, "tcId \(vector.id) (\(vector.comment)): bytes differ")
            sealed += 1
        }
        #expect(sealed >= 20)
    }

    /// Opens `envelope` as a live reader: seallite_open, then the replay window for live deliveries.
    static func open(
        _ opener: inout seallite_opener, _ windows: inout [UInt64: seallite_replay], _ vector: Vector,
        _ envelope: [UInt8], retained: Bool
    ) -> (status: Int32, reason: String, payload: [UInt8], opened: seallite_opened) {
        let capacity = max(envelope.count, 1)
        var payload = [UInt8](repeating: 0, count: capacity)
        var opened = seallite_opened()
        // No context and an empty context are the same binding (spec 3.1).
        let context = vector.context ?? []
        var status = seallite_open(
            &opener, vector.now, envelope, envelope.count, vector.topic, vector.topic.count, context, context.count,
            retained ? 1 : 0, &payload, capacity, &opened)
        var reason = seallite_last_reason(&opener)
        if status == SEALLITE_OK.rawValue && !retained {
            let pair = UInt64(opened.kid) << 32 | UInt64(opened.sid)
            if windows[pair] == nil {
                var window = seallite_replay()
                // Vectors with window 1024 hold at most a few messages: the compiled capacity behaves the same.
                seallite_replay_init(&window, UInt32(min(vector.window, Int(SEALLITE_REPLAY_SLOTS) / 2)))
                windows[pair] = window
            }
            status = seallite_replay_check(&windows[pair]!, opened.seq, &reason)
            if status == SEALLITE_OK.rawValue { seallite_replay_commit(&windows[pair]!, opened.seq) }
        }
        return (status, String(cString: seallite_reason_name(reason)), Array(payload[0..<opened.payload_len]), opened)
    }

    @Test func everyVectorOpensAsSpecified() throws {
        let (tables, vectors) = try Self.load()
        #expect(vectors.count >= 40)
        for vector in vectors {
            if vector.comment.hasPrefix("aes256gcm") && !Self.aesAvailable { continue }
            var opener = seallite_opener()
            try #require(
                seallite_opener_init(
                    &opener, tables.keys, tables.keyCount, tables.signers, tables.signerCount,
                    seallite_sodium_backend()) == SEALLITE_OK.rawValue)
            opener.scratch = tables.scratch
            opener.scratch_len = tables.scratchCount
            var windows: [UInt64: seallite_replay] = [:]
            for earlier in vector.before {
                let result = Self.open(&opener, &windows, vector, earlier, retained: false)
                #expect(result.status == SEALLITE_OK.rawValue, "tcId \(vector.id): before opens (\(result.reason))")
            }
            let result = Self.open(&opener, &windows, vector, vector.envelope, retained: vector.retained)
            if vector.result == "valid" {
                #expect(
                    result.status == SEALLITE_OK.rawValue, "tcId \(vector.id) (\(vector.comment)): \(result.reason)")
                #expect(result.payload == vector.payload, "tcId \(vector.id): payload")
                #expect(result.opened.kid == vector.kid && result.opened.sid == vector.sid, "tcId \(vector.id): ids")
                #expect((result.opened.is_signed != 0) == (vector.signer != nil), "tcId \(vector.id): signer")
            } else {
                #expect(result.status == SEALLITE_REJECTED.rawValue, "tcId \(vector.id): the one rejection code")
                #expect(result.reason == vector.result, "tcId \(vector.id) (\(vector.comment)): \(result.reason)")
            }
        }
    }

    /// Live interop in one process: SealLite seals and the Swift `Opener` opens, in every mode.
    @Test(arguments: ["xchacha20poly1305", "hmac-sha256", "sign"])
    func swiftOpensWhatSealLiteSeals(_ kind: String) throws {
        let (tables, _) = try Self.load()
        let now: UInt64 = 1_767_225_600_000
        let swiftKey = try SealKey(id: 0x0101, suite: .xchacha20poly1305, bytes: Array(UInt8(0x00)...UInt8(0x1F)))
        let swiftHMAC = try SealKey(id: 0x0303, suite: .hmacSHA256, bytes: Array(UInt8(0x40)...UInt8(0x5F)))
        let signer = try SigningKey(id: Self.signerID, seed: Self.signerSeed)
        let opener = Opener(
            keys: KeySet(keys: [swiftKey, swiftHMAC], signers: [signer.verifyingKey]),
            replayGuard: ReplayGuard(clock: { now + 5 }))
        var sealer = seallite_sealer()
        let key: UnsafeMutablePointer<seallite_key>? =
            kind == "sign" ? nil : tables.key(kind == "hmac-sha256" ? 0x0303 : 0x0101)
        let signing: UnsafePointer<seallite_signing_key>? = kind == "sign" ? UnsafePointer(tables.signingKey) : nil
        try #require(
            seallite_sealer_init(
                &sealer, key.map { UnsafePointer($0) }, signing, kind == "sign" ? Self.signerID : 0x7777,
                seallite_sodium_backend(), seallite_sodium_random, nil) == SEALLITE_OK.rawValue)
        sealer.scratch = tables.scratch
        sealer.scratch_len = tables.scratchCount
        let topic = Array("plant/line-4/press-17/telemetry".utf8)
        for index in 0..<3 {
            let payload = Array("reading \(index)".utf8)
            var out = [UInt8](repeating: 0, count: 256)
            var written = 0
            let status = seallite_seal(
                &sealer, now, payload, payload.count, topic, topic.count, nil, 0, 0, &out, 256, &written)
            try #require(status == SEALLITE_OK.rawValue)
            let opened = try opener.open(Array(out[0..<written]), topic: "plant/line-4/press-17/telemetry")
            #expect(opened.payload == payload)
            #expect(opened.isSigned == (kind == "sign"))
        }
    }

    /// And the reverse: the Swift `Sealer` seals, SealLite opens.
    @Test func sealLiteOpensWhatSwiftSeals() throws {
        let (tables, _) = try Self.load()
        let now: UInt64 = 1_767_225_600_000
        let sealer = try Sealer(
            key: try SealKey(id: 0x0303, suite: .hmacSHA256, bytes: Array(UInt8(0x40)...UInt8(0x5F))), senderID: 0x4242,
            clock: { now })
        let envelope = try sealer.seal(Array("hello".utf8), topic: "a/b", context: [1, 2, 3])
        var opener = seallite_opener()
        try #require(
            seallite_opener_init(&opener, tables.keys, tables.keyCount, nil, 0, nil) == SEALLITE_OK.rawValue)
        var payload = [UInt8](repeating: 0, count: 16)
        var opened = seallite_opened()
        let topic = Array("a/b".utf8)
        let context: [UInt8] = [1, 2, 3]
        let status = seallite_open(
            &opener, now, envelope, envelope.count, topic, topic.count, context, context.count, 0, &payload, 16,
            &opened)
        #expect(status == SEALLITE_OK.rawValue)
        #expect(Array(payload[0..<opened.payload_len]) == Array("hello".utf8))
        #expect(opened.sid == 0x4242 && opened.mode == SEALLITE_MODE_MAC)
    }
}

/// The `random` callback of the vector sealers: hands out a ``SealLiteVectorTests/FixedRandom``'s bytes.
private func takeFixedRandom(
    _ context: UnsafeMutableRawPointer?, _ out: UnsafeMutablePointer<UInt8>?, _ count: Int
)
    -> Int32
{
    guard let context, let out else { return -1 }
    let source = Unmanaged<SealLiteVectorTests.FixedRandom>.fromOpaque(context).takeUnretainedValue()
    guard source.offset + count <= source.bytes.count else { return -1 }
    for index in 0..<count { out[index] = source.bytes[source.offset + index] }
    source.offset += count
    return 0
}

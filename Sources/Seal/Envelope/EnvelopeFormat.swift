/// Version 1 of the envelope: constants, header codec, and the exact byte strings that the AEAD,
/// the MAC and the signature authenticate. Specs/envelope.md is the normative description.
enum EnvelopeFormat {
    /// The version in the high nibble of byte 0.
    static let version: UInt8 = 1
    /// Bit 3 of byte 0: the sender sealed the message for a retained publish.
    static let retainFlag: UInt8 = 0x08
    /// Header: flags byte, kid, sid, seq.
    static let headerBytes = 17
    /// XChaCha20-Poly1305: random bytes on the wire that complete the 24-byte nonce.
    static let xchachaRandomBytes = 8
    /// AES-256-GCM: the random 12-byte IV on the wire.
    static let aesIVBytes = 12
    /// Both AEAD tags are 16 bytes.
    static let aeadTagBytes = 16
    /// HMAC-SHA256 tag.
    static let macBytes = 32
    /// Ed25519 signature.
    static let signatureBytes = 64
    /// Topics are at most 65535 UTF-8 bytes (MQTT, and the u16 length prefix).
    static let maxTopicBytes = 65_535
    /// The largest envelope: MQTT's largest packet (remaining length 268,435,455 bytes).
    static let maxEnvelopeBytes = 268_435_455
    /// The largest overhead of any suite and mode (AES-256-GCM + signature): 17 + 12 + 16 + 64.
    static let maxOverheadBytes = headerBytes + aesIVBytes + aeadTagBytes + signatureBytes
    /// The largest payload that ``Sealer`` accepts, whatever the mode.
    static let maxPayloadBytes = maxEnvelopeBytes - maxOverheadBytes
    /// The largest application context: the u32 length prefix, capped to what fits an Int.
    static let maxContextBytes = Int(exactly: UInt32.max) ?? Int.max
    /// Domain-separation prefix of the signature input: ASCII "mqtt-seal/v1 sig" and a zero byte.
    static let signatureDomain: [UInt8] = Array("mqtt-seal/v1 sig".utf8) + [0]

    /// Bytes of nonce material on the wire for a suite in an encrypt mode.
    @inline(__always)
    static func nonceBytes(_ suite: Suite) -> Int {
        suite == .aes256gcm ? aesIVBytes : xchachaRandomBytes
    }

    /// Length of the AAD for a topic and context.
    @inline(__always)
    static func aadBytes(topic: Int, context: Int) -> Int { headerBytes + 2 + topic + 4 + context }

    /// Writes the 17-byte header at `p`.
    @inline(__always)
    static func writeHeader(
        _ p: UnsafeMutableRawPointer, mode: SealMode, retain: Bool, kid: UInt32, sid: UInt32, seq: UInt64
    ) {
        p.storeBytes(of: version << 4 | (retain ? retainFlag : 0) | mode.rawValue, as: UInt8.self)
        p.storeBytes(of: kid.bigEndian, toByteOffset: 1, as: UInt32.self)
        p.storeBytes(of: sid.bigEndian, toByteOffset: 5, as: UInt32.self)
        p.storeBytes(of: seq.bigEndian, toByteOffset: 9, as: UInt64.self)
    }

    /// Writes `u16 len(topic) || topic || u32 len(context) || context` at `p`; returns bytes written.
    /// Lengths were checked by the caller.
    @inline(__always)
    static func writeBinding(
        _ p: UnsafeMutableRawPointer, topic: UnsafeRawBufferPointer, context: UnsafeRawBufferPointer
    ) -> Int {
        p.storeBytes(of: UInt16(truncatingIfNeeded: topic.count).bigEndian, as: UInt16.self)
        if let base = topic.baseAddress, topic.count > 0 { (p + 2).copyMemory(from: base, byteCount: topic.count) }
        let at = 2 + topic.count
        p.storeBytes(of: UInt32(truncatingIfNeeded: context.count).bigEndian, toByteOffset: at, as: UInt32.self)
        if let base = context.baseAddress, context.count > 0 {
            (p + at + 4).copyMemory(from: base, byteCount: context.count)
        }
        return at + 4 + context.count
    }

    /// Calls `body` with AAD = header || u16 len(topic) || topic || u32 len(context) || context, built
    /// in a temporary (stack for small sizes) buffer.
    @inline(__always)
    static func withAAD<R>(
        header: UnsafeRawPointer, topic: UnsafeRawBufferPointer, context: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        let length = aadBytes(topic: topic.count, context: context.count)
        func build(_ p: UnsafeMutableRawPointer) -> R {
            p.copyMemory(from: header, byteCount: headerBytes)
            _ = writeBinding(p + headerBytes, topic: topic, context: context)
            return body(UnsafeRawBufferPointer(start: p, count: length))
        }
        // Most AADs (topics up to ~100 bytes, no context) fit a fixed stack buffer, which costs no runtime call.
        guard length > MemoryLayout<SmallAAD>.size else {
            var small = SmallAAD()
            return withUnsafeMutableBytes(of: &small) { build($0.baseAddress!) }
        }
        return withUnsafeTemporaryAllocation(byteCount: length, alignment: 8) { build($0.baseAddress!) }
    }

    /// 128 bytes of stack for ``withAAD(header:topic:context:_:)``.
    private struct SmallAAD {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var more: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// Calls `body` with the signature input:
    /// `"mqtt-seal/v1 sig\0" || u16 len(topic) || topic || u32 len(context) || context || signedBody`,
    /// where `signedBody` is every envelope byte before the signature.
    @inline(__always)
    static func withSignatureInput<R>(
        signedBody: UnsafeRawBufferPointer, topic: UnsafeRawBufferPointer, context: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        let prefix = signatureDomain.count + 2 + topic.count + 4 + context.count
        return withUnsafeTemporaryAllocation(byteCount: prefix + signedBody.count, alignment: 8) { buffer in
            let p = buffer.baseAddress!
            signatureDomain.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            let written =
                signatureDomain.count + writeBinding(p + signatureDomain.count, topic: topic, context: context)
            if let base = signedBody.baseAddress, signedBody.count > 0 {
                (p + written).copyMemory(from: base, byteCount: signedBody.count)
            }
            return body(UnsafeRawBufferPointer(buffer))
        }
    }
}

/// A parsed header. Parsing checks the length first and rejects unknown versions and modes.
struct EnvelopeHeader {
    let mode: SealMode
    let retain: Bool
    let kid: UInt32
    let sid: UInt32
    let seq: UInt64

    @inline(__always)
    init(parsing envelope: UnsafeRawBufferPointer) throws(SealError) {
        guard envelope.count >= EnvelopeFormat.headerBytes, let p = envelope.baseAddress else {
            throw .rejected(.malformed)
        }
        let first = p.load(as: UInt8.self)
        guard first >> 4 == EnvelopeFormat.version, let mode = SealMode(rawValue: first & 0x07) else {
            throw .rejected(.malformed)
        }
        self.mode = mode
        self.retain = first & EnvelopeFormat.retainFlag != 0
        self.kid = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 1, as: UInt32.self))
        self.sid = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 5, as: UInt32.self))
        self.seq = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 9, as: UInt64.self))
    }
}

/// Calls `body` with the UTF-8 bytes of `string` without copying when the storage is contiguous.
@inline(__always)
func withUTF8Bytes<R>(_ string: String, _ body: (UnsafeRawBufferPointer) throws(SealError) -> R) throws(SealError) -> R
{
    let result: Result<R, SealError>? = string.utf8.withContiguousStorageIfAvailable { buffer in
        Result { () throws(SealError) -> R in try body(UnsafeRawBufferPointer(buffer)) }
    }
    if let result { return try result.get() }
    let copy = Array(string.utf8)
    return try copy.withUnsafeBytes { buffer in
        Result { () throws(SealError) -> R in try body(buffer) }
    }.get()
}

/// Calls `body` with the bytes of an optional array (empty when nil).
@inline(__always)
func withOptionalBytes<R>(
    _ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer) throws(SealError) -> R
) throws(SealError)
    -> R
{
    guard let bytes else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return try bytes.withUnsafeBytes { buffer in Result { () throws(SealError) -> R in try body(buffer) } }.get()
}

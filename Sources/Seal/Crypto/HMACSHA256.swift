import COpenSSL

/// HMAC-SHA256 (RFC 2104) on OpenSSL's SHA-256.
///
/// The key's inner and outer hash states (after the `ipad` and `opad` blocks) are computed once; every
/// message starts from stack copies of them. A tag therefore costs no allocation, no lock and no context
/// re-initialisation, and any number of threads can use one key at once. The states are as secret as the
/// key: they live in wiped storage, and the stack copies are wiped after use.
final class HMACSHA256: Sendable {
    static let tagBytes = 32
    /// SHA-256 block size: the key is padded (or first hashed) to this length.
    private static let blockBytes = 64
    private static let stateBytes = MemoryLayout<SHA256_CTX>.size

    let key: SecureBytes
    /// The inner state, then the outer state.
    private let states: SecureBytes

    /// Any key length is accepted here (HMAC allows it); ``SealKey`` requires 32 bytes.
    init(key: SecureBytes) throws(SealError) {
        self.key = key
        var ok = true
        states = SecureBytes(count: 2 * Self.stateBytes) { states in
            ok = Self.precompute(key: key, into: states.baseAddress!)
        }
        guard ok else { throw SealError(.cryptoFailure, .library, "hmac-sha256 key setup") }
    }

    /// Writes the inner and outer states for `key` at `states`.
    private static func precompute(key: SecureBytes, into states: UnsafeMutableRawPointer) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: blockBytes, alignment: 16) { block in
            defer { Sodium.wipe(block) }
            let pad = block.baseAddress!.assumingMemoryBound(to: UInt8.self)
            pad.initialize(repeating: 0, count: blockBytes)
            let keyed = key.withUnsafeBytes { bytes -> Bool in
                guard bytes.count > blockBytes else {
                    if bytes.count > 0 {
                        UnsafeMutableRawPointer(pad).copyMemory(from: bytes.bytes, byteCount: bytes.count)
                    }
                    return true
                }
                // Keys longer than a block are hashed first.
                return SHA256(bytes.bytes, bytes.count, pad) != nil
            }
            guard keyed else { return false }
            let inner = states.assumingMemoryBound(to: SHA256_CTX.self)
            let outer = (states + stateBytes).assumingMemoryBound(to: SHA256_CTX.self)
            for i in 0..<blockBytes { pad[i] ^= 0x36 }
            guard SHA256_Init(inner) == 1, SHA256_Update(inner, pad, blockBytes) == 1 else { return false }
            // 0x36 ^ 0x5c turns the inner pad into the outer pad.
            for i in 0..<blockBytes { pad[i] ^= 0x36 ^ 0x5c }
            return SHA256_Init(outer) == 1 && SHA256_Update(outer, pad, blockBytes) == 1
        }
    }

    /// Writes HMAC-SHA256(key, first || second) to `output` (32 bytes).
    @inline(__always)
    func authenticate(
        into output: UnsafeMutablePointer<UInt8>, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer
    ) throws(SealError) {
        let ok = withUnsafeTemporaryAllocation(of: SHA256_CTX.self, capacity: 1) { context -> Bool in
            states.withUnsafePointer { inner in
                authenticate(into: output, first: first, second: second, context: context, inner: inner)
            }
        }
        guard ok else { throw SealError(.cryptoFailure, .library, "hmac-sha256") }
    }

    /// The tag, from the precomputed states at `inner` (inner, then outer), in the caller's `context`.
    @inline(__always)
    private func authenticate(
        into output: UnsafeMutablePointer<UInt8>, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer,
        context: UnsafeMutableBufferPointer<SHA256_CTX>, inner: UnsafePointer<UInt8>
    ) -> Bool {
        let state = context.baseAddress!
        defer { Sodium.wipe(UnsafeMutableRawBufferPointer(start: state, count: Self.stateBytes)) }
        // Inner hash: H((key ^ ipad) || first || second), continuing from the precomputed state.
        UnsafeMutableRawPointer(state).copyMemory(from: inner, byteCount: Self.stateBytes)
        if first.count > 0 { guard SHA256_Update(state, first.bytes, first.count) == 1 else { return false } }
        if second.count > 0 { guard SHA256_Update(state, second.bytes, second.count) == 1 else { return false } }
        // The inner digest goes to `output` and is hashed from there: no other buffer.
        guard SHA256_Final(output, state) == 1 else { return false }
        // Outer hash: H((key ^ opad) || inner digest).
        UnsafeMutableRawPointer(state).copyMemory(from: inner + Self.stateBytes, byteCount: Self.stateBytes)
        return SHA256_Update(state, output, Self.tagBytes) == 1 && SHA256_Final(output, state) == 1
    }

    /// Verifies a 32-byte `tag` over `first || second` in constant time.
    func verify(
        tag: UnsafeRawBufferPointer, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer
    ) -> Bool {
        guard tag.count == Self.tagBytes else { return false }
        return withUnsafeTemporaryAllocation(byteCount: Self.tagBytes, alignment: 16) { computed in
            defer { Sodium.wipe(computed) }
            guard (try? authenticate(into: computed.mutableBytes, first: first, second: second)) != nil else {
                return false
            }
            return constantTimeEquals(UnsafeRawBufferPointer(computed), tag)
        }
    }
}

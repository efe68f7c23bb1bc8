import COpenSSL

/// The HMAC algorithm object, fetched once per process (fetching is expensive).
nonisolated(unsafe) private let hmacAlgorithm: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)

/// HMAC-SHA256 from OpenSSL `EVP_MAC`, with keyed contexts reused between messages.
final class HMACSHA256: Sendable {
    static let tagBytes = 32

    let key: SecureBytes
    private let contexts: ContextPool

    /// Any key length is accepted here (HMAC allows it); ``SealKey`` requires 32 bytes.
    init(key: SecureBytes) throws(SealError) {
        self.key = key
        contexts = ContextPool(make: { HMACSHA256.makeContext(key: key) }, release: { EVP_MAC_CTX_free($0) })
        try contexts.withContext { _ in }
    }

    static func makeContext(key: SecureBytes) -> OpaquePointer? {
        guard let algorithm = hmacAlgorithm, let context = EVP_MAC_CTX_new(algorithm) else { return nil }
        let ok = "digest".withCString { name in
            "SHA256".withCString { value in
                var params = [
                    OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: value), 0),
                    OSSL_PARAM_construct_end(),
                ]
                return key.withUnsafeBytes { bytes in EVP_MAC_init(context, bytes.bytes, bytes.count, &params) == 1 }
            }
        }
        guard ok else {
            EVP_MAC_CTX_free(context)
            return nil
        }
        return context
    }

    /// Writes HMAC-SHA256(key, parts[0] || parts[1] || ...) to `output` (32 bytes).
    func authenticate(into output: UnsafeMutablePointer<UInt8>, _ parts: UnsafeRawBufferPointer...) throws(SealError) {
        try authenticate(into: output, parts: parts)
    }

    /// Writes HMAC-SHA256(key, concatenation of `parts`) to `output` (32 bytes).
    func authenticate(into output: UnsafeMutablePointer<UInt8>, parts: [UnsafeRawBufferPointer]) throws(SealError) {
        let ok = try contexts.withContext { context -> Bool in
            // A nil key re-initialises the context with the key it already holds.
            guard EVP_MAC_init(context, nil, 0, nil) == 1 else { return false }
            for part in parts where part.count > 0 {
                guard EVP_MAC_update(context, part.bytes, part.count) == 1 else { return false }
            }
            var written = 0
            return EVP_MAC_final(context, output, &written, Self.tagBytes) == 1 && written == Self.tagBytes
        }
        guard ok else { throw SealError(.cryptoFailure, .library, "hmac-sha256") }
    }

    /// Two-part fast path: HMAC(key, first || second) without an array.
    @inline(__always)
    func authenticate(
        into output: UnsafeMutablePointer<UInt8>, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer
    ) throws(SealError) {
        let ok = try contexts.withContext { context -> Bool in
            guard EVP_MAC_init(context, nil, 0, nil) == 1 else { return false }
            if first.count > 0 { guard EVP_MAC_update(context, first.bytes, first.count) == 1 else { return false } }
            if second.count > 0 { guard EVP_MAC_update(context, second.bytes, second.count) == 1 else { return false } }
            var written = 0
            return EVP_MAC_final(context, output, &written, Self.tagBytes) == 1 && written == Self.tagBytes
        }
        guard ok else { throw SealError(.cryptoFailure, .library, "hmac-sha256") }
    }

    /// Verifies a 32-byte `tag` over `first || second` in constant time.
    func verify(
        tag: UnsafeRawBufferPointer, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer
    ) -> Bool {
        guard tag.count == Self.tagBytes else { return false }
        return withUnsafeTemporaryAllocation(byteCount: Self.tagBytes, alignment: 16) { computed in
            defer { computed.initializeMemory(as: UInt8.self, repeating: 0) }
            guard (try? authenticate(into: computed.mutableBytes, first: first, second: second)) != nil else {
                return false
            }
            return constantTimeEquals(UnsafeRawBufferPointer(computed), tag)
        }
    }
}

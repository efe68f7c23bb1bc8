import COpenSSL
import Synchronization

/// AES-256-GCM from OpenSSL EVP, 12-byte IV, 16-byte tag.
///
/// The key schedule is computed once per pooled context (one encrypting and one decrypting pool per
/// key); a message only sets the IV. Safe for concurrent use: each call borrows its own context.
final class AES256GCM: Sendable {
    static let keyBytes = 32
    static let ivBytes = 12
    static let tagBytes = 16

    /// NIST SP 800-38D §8.3: with random 96-bit IVs, a key encrypts at most 2^32 messages (the chance of an IV
    /// collision, which would reveal the authentication key, then stays below 2^-32).
    static let invocationLimit: UInt64 = 1 << 32

    let key: SecureBytes
    /// The messages this key may still encrypt in this process, counted down by ``reserveInvocation()``.
    let limit: UInt64
    private let invocations = Atomic<UInt64>(0)
    private let encryptors: ContextPool
    private let decryptors: ContextPool

    init(key: SecureBytes, invocationLimit: UInt64 = AES256GCM.invocationLimit) throws(SealError) {
        guard key.count == Self.keyBytes else {
            throw SealError(.invalidKey, .misuse, "AES-256-GCM key must be 32 bytes")
        }
        self.key = key
        self.limit = invocationLimit
        encryptors = ContextPool(
            make: { AES256GCM.makeContext(key: key, encrypt: true) }, release: { EVP_CIPHER_CTX_free($0) })
        decryptors = ContextPool(
            make: { AES256GCM.makeContext(key: key, encrypt: false) }, release: { EVP_CIPHER_CTX_free($0) })
        // Fail early (at key creation, not at first use) if OpenSSL cannot make a context.
        try encryptors.withContext { _ in }
        try decryptors.withContext { _ in }
    }

    private static func makeContext(key: SecureBytes, encrypt: Bool) -> OpaquePointer? {
        guard let context = EVP_CIPHER_CTX_new() else { return nil }
        let ok =
            EVP_CipherInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil, encrypt ? 1 : 0) == 1
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(ivBytes), nil) == 1
            && key.withUnsafePointer { EVP_CipherInit_ex(context, nil, nil, $0, nil, encrypt ? 1 : 0) } == 1
        guard ok else {
            EVP_CIPHER_CTX_free(context)
            return nil
        }
        return context
    }

    /// Counts one encryption against ``limit``; past it every further call throws
    /// ``SealError/Code/keyExhausted`` (nothing is encrypted, the key needs rotating).
    func reserveInvocation() throws(SealError) {
        let used = invocations.wrappingAdd(1, ordering: .relaxed).newValue
        guard used <= limit else {
            invocations.wrappingSubtract(1, ordering: .relaxed)
            throw SealError(
                .keyExhausted, .keyUsageLimit,
                "this AES-256-GCM key encrypted its \(limit) messages (the limit for random IVs): rotate it")
        }
    }

    /// Messages this key may still encrypt.
    var remainingInvocations: UInt64 {
        let used = invocations.load(ordering: .relaxed)
        return used >= limit ? 0 : limit - used
    }

    /// Encrypts `message` into `output` (`message.count + 16` bytes: ciphertext then tag).
    func seal(
        into output: UnsafeMutablePointer<UInt8>, message: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        iv: UnsafePointer<UInt8>
    ) throws(SealError) {
        guard let messageLength = Int32(exactly: message.count), let aadLength = Int32(exactly: aad.count) else {
            throw SealError(.invalidArgument, .misuse, "AES-GCM input above 2^31 bytes")
        }
        let ok = try encryptors.withContext { context -> Bool in
            var outLength: Int32 = 0
            guard EVP_EncryptInit_ex(context, nil, nil, nil, iv) == 1 else { return false }
            if aadLength > 0 {
                guard EVP_EncryptUpdate(context, nil, &outLength, aad.bytes, aadLength) == 1 else { return false }
            }
            var total: Int32 = 0
            if messageLength > 0 {
                guard EVP_EncryptUpdate(context, output, &outLength, message.bytes, messageLength) == 1 else {
                    return false
                }
                total = outLength
            }
            guard EVP_EncryptFinal_ex(context, output + Int(total), &outLength) == 1 else { return false }
            total += outLength
            guard total == messageLength else { return false }
            return EVP_CIPHER_CTX_ctrl(
                context, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagBytes), output + Int(messageLength)) == 1
        }
        guard ok else { throw SealError(.cryptoFailure, .library, "aes-256-gcm encrypt") }
    }

    /// Decrypts `ciphertextAndTag` into `output` (`ciphertextAndTag.count - 16` bytes). Returns false
    /// when authentication fails, the input is shorter than a tag, or OpenSSL fails.
    func open(
        into output: UnsafeMutablePointer<UInt8>, ciphertextAndTag: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer, iv: UnsafePointer<UInt8>
    ) -> Bool {
        guard ciphertextAndTag.count >= Self.tagBytes,
            let cipherLength = Int32(exactly: ciphertextAndTag.count - Self.tagBytes),
            let aadLength = Int32(exactly: aad.count)
        else { return false }
        let result = try? decryptors.withContext { context -> Bool in
            var outLength: Int32 = 0
            guard EVP_DecryptInit_ex(context, nil, nil, nil, iv) == 1 else { return false }
            if aadLength > 0 {
                guard EVP_DecryptUpdate(context, nil, &outLength, aad.bytes, aadLength) == 1 else { return false }
            }
            var total: Int32 = 0
            if cipherLength > 0 {
                guard EVP_DecryptUpdate(context, output, &outLength, ciphertextAndTag.bytes, cipherLength) == 1 else {
                    return false
                }
                total = outLength
            }
            let tag = UnsafeMutableRawPointer(mutating: ciphertextAndTag.bytes + Int(cipherLength))
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagBytes), tag) == 1 else {
                return false
            }
            guard EVP_DecryptFinal_ex(context, output + Int(total), &outLength) == 1 else { return false }
            return total + outLength == cipherLength
        }
        return result ?? false
    }
}

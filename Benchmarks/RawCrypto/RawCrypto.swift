import COpenSSL
import CSodium
import Seal

/// The raw primitives with as little wrapping as possible, so the benchmark harness can compare
/// ``Sealer`` against the bare C calls in the same run. Not API: no validation beyond what keeps
/// memory safe, `false` on any failure. A benchmark-only target: it is not a product and never ships.
public enum RawCrypto {
    /// `crypto_aead_xchacha20poly1305_ietf_encrypt`: writes `message.count + 16` bytes to `output`.
    /// `key` is 32 bytes, `nonce` 24 bytes.
    @inline(__always)
    public static func xchacha20poly1305Encrypt(
        output: UnsafeMutableRawBufferPointer, message: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
    ) -> Bool {
        guard output.count >= message.count + 16, nonce.count == 24, key.count == 32, sodium_init() >= 0 else {
            return false
        }
        var written: UInt64 = 0
        return crypto_aead_xchacha20poly1305_ietf_encrypt(
            output.mutableBytes, &written, message.bytes, UInt64(message.count), aad.bytes, UInt64(aad.count), nil,
            nonce.bytes, key.bytes) == 0
    }

    /// `crypto_aead_xchacha20poly1305_ietf_decrypt`: writes `ciphertext.count - 16` bytes to `output`; false when
    /// the tag does not verify.
    @inline(__always)
    public static func xchacha20poly1305Decrypt(
        output: UnsafeMutableRawBufferPointer, ciphertext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
    ) -> Bool {
        guard ciphertext.count >= 16, output.count >= ciphertext.count - 16, nonce.count == 24, key.count == 32,
            sodium_init() >= 0
        else { return false }
        var written: UInt64 = 0
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            output.mutableBytes, &written, nil, ciphertext.bytes, UInt64(ciphertext.count), aad.bytes,
            UInt64(aad.count), nonce.bytes, key.bytes) == 0
    }

    /// `randombytes_buf`: one syscall-backed draw, for comparison with the pooled nonce source.
    @inline(__always)
    public static func randomBytes(_ output: UnsafeMutableRawBufferPointer) {
        if output.count > 0 { randombytes_buf(output.mutableBytes, output.count) }
    }

    /// `crypto_sign_detached` with a 64-byte libsodium secret key (seed || public key).
    @inline(__always)
    public static func ed25519Sign(
        signature: UnsafeMutableRawBufferPointer, message: UnsafeRawBufferPointer, secretKey: UnsafeRawBufferPointer
    ) -> Bool {
        guard signature.count >= 64, secretKey.count == 64 else { return false }
        return crypto_sign_detached(signature.mutableBytes, nil, message.bytes, UInt64(message.count), secretKey.bytes)
            == 0
    }

    /// `crypto_sign_verify_detached` with a 32-byte public key.
    @inline(__always)
    public static func ed25519Verify(
        signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, publicKey: UnsafeRawBufferPointer
    ) -> Bool {
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return crypto_sign_verify_detached(signature.bytes, message.bytes, UInt64(message.count), publicKey.bytes) == 0
    }

    /// `crypto_sign_seed_keypair`: fills a 32-byte public key and a 64-byte secret key from a 32-byte seed.
    public static func ed25519KeyPair(
        seed: UnsafeRawBufferPointer, publicKey: UnsafeMutableRawBufferPointer, secretKey: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard seed.count == 32, publicKey.count >= 32, secretKey.count >= 64, sodium_init() >= 0 else { return false }
        return crypto_sign_seed_keypair(publicKey.mutableBytes, secretKey.mutableBytes, seed.bytes) == 0
    }
}

/// AES-256-GCM on ONE OpenSSL EVP context initialised once for the key (the raw baseline: no pool,
/// no lock). Not thread-safe: one instance per benchmark thread.
public final class RawAES256GCM {
    private let context: OpaquePointer

    /// Initialises the context with a 32-byte key; nil on failure.
    public init?(key: UnsafeRawBufferPointer) {
        guard key.count == 32, let context = EVP_CIPHER_CTX_new() else { return nil }
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key.bytes, nil) == 1 else {
            EVP_CIPHER_CTX_free(context)
            return nil
        }
        self.context = context
    }

    /// Encrypts with a 12-byte IV: ciphertext then 16-byte tag into `output`.
    @inline(__always)
    public func encrypt(
        output: UnsafeMutableRawBufferPointer, message: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        iv: UnsafeRawBufferPointer
    ) -> Bool {
        guard iv.count == 12, output.count >= message.count + 16, let messageLength = Int32(exactly: message.count),
            let aadLength = Int32(exactly: aad.count)
        else { return false }
        var length: Int32 = 0
        let out = output.mutableBytes
        guard EVP_EncryptInit_ex(context, nil, nil, nil, iv.bytes) == 1,
            EVP_EncryptUpdate(context, nil, &length, aad.bytes, aadLength) == 1,
            EVP_EncryptUpdate(context, out, &length, message.bytes, messageLength) == 1
        else { return false }
        let total = Int(length)
        guard EVP_EncryptFinal_ex(context, out + total, &length) == 1 else { return false }
        return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, out + message.count) == 1
    }

    deinit { EVP_CIPHER_CTX_free(context) }
}

/// HMAC-SHA256 on ONE OpenSSL `EVP_MAC` context keyed once (the raw baseline: no pool, no lock).
/// Not thread-safe: one instance per benchmark thread.
public final class RawHMACSHA256 {
    private let context: OpaquePointer

    /// Keys the context; nil on failure.
    public init?(key: UnsafeRawBufferPointer) {
        guard let algorithm = hmacAlgorithm, let context = EVP_MAC_CTX_new(algorithm) else { return nil }
        let ok = "digest".withCString { name in
            "SHA256".withCString { value in
                var params = [
                    OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: value), 0),
                    OSSL_PARAM_construct_end(),
                ]
                return EVP_MAC_init(context, key.bytes, key.count, &params) == 1
            }
        }
        guard ok else {
            EVP_MAC_CTX_free(context)
            return nil
        }
        self.context = context
    }

    /// Writes the 32-byte tag of `message` to `output`.
    @inline(__always)
    public func authenticate(output: UnsafeMutableRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        guard output.count >= 32 else { return false }
        var written = 0
        return EVP_MAC_init(context, nil, 0, nil) == 1
            && EVP_MAC_update(context, message.bytes, message.count) == 1
            && EVP_MAC_final(context, output.mutableBytes, &written, 32) == 1
    }

    deinit { EVP_MAC_CTX_free(context) }
}

/// The HMAC algorithm object of the EVP_MAC baseline, fetched once per process (fetching is expensive).
nonisolated(unsafe) private let hmacAlgorithm: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)

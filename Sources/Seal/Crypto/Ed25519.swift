import CSodium

/// Ed25519 (libsodium): signing with a 64-byte secret key (seed || public key) in wiped storage,
/// verification against a 32-byte public key that was validated on import.
enum Ed25519 {
    static let seedBytes = 32
    static let publicKeyBytes = 32
    static let secretKeyBytes = 64
    static let signatureBytes = 64

    /// Derives the key pair from a 32-byte seed. Returns the secret key (seed || pk) and the public key.
    static func keyPair(seed: SecureBytes) throws(SealError) -> (secret: SecureBytes, publicKey: [UInt8]) {
        try ensureSodium()
        guard seed.count == seedBytes else { throw SealError(.invalidKey, .misuse, "Ed25519 seed must be 32 bytes") }
        var publicKey = [UInt8](repeating: 0, count: publicKeyBytes)
        var rc: Int32 = -1
        let secret = SecureBytes(count: secretKeyBytes) { sk in
            rc = publicKey.withUnsafeMutableBytes { pk in
                seed.withUnsafePointer { crypto_sign_seed_keypair(pk.mutableBytes, sk.mutableBytes, $0) }
            }
        }
        guard rc == 0 else { throw SealError(.cryptoFailure, .library, "crypto_sign_seed_keypair") }
        return (secret, publicKey)
    }

    /// True when `publicKey` is a canonical encoding of a point in the prime-order subgroup that is
    /// not of small order (`crypto_core_ed25519_is_valid_point`).
    static func isValidPublicKey(_ publicKey: UnsafeRawBufferPointer) -> Bool {
        guard (try? ensureSodium()) != nil, publicKey.count == publicKeyBytes else { return false }
        return crypto_core_ed25519_is_valid_point(publicKey.bytes) == 1
    }

    /// Writes the 64-byte detached signature of `message` to `output`.
    @inline(__always)
    static func sign(
        into output: UnsafeMutablePointer<UInt8>, message: UnsafeRawBufferPointer, secretKey: SecureBytes
    ) throws(SealError) {
        var length: UInt64 = 0
        let rc = secretKey.withUnsafePointer {
            crypto_sign_detached(output, &length, message.bytes, UInt64(message.count), $0)
        }
        guard rc == 0, length == UInt64(signatureBytes) else {
            throw SealError(.cryptoFailure, .library, "crypto_sign_detached")
        }
    }

    /// Verifies a detached signature. False for any wrong length.
    @inline(__always)
    static func verify(
        signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, publicKey: UnsafeRawBufferPointer
    ) -> Bool {
        guard signature.count == signatureBytes, publicKey.count == publicKeyBytes else { return false }
        return crypto_sign_verify_detached(signature.bytes, message.bytes, UInt64(message.count), publicKey.bytes)
            == 0
    }
}

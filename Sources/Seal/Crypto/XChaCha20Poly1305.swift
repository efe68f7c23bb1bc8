import CSodium

/// XChaCha20-Poly1305 (IETF) from libsodium with a 32-byte key held in wiped storage.
struct XChaCha20Poly1305: Sendable {
    static let keyBytes = 32
    static let nonceBytes = 24
    static let tagBytes = 16

    let key: SecureBytes

    init(key: SecureBytes) throws(SealError) {
        try ensureSodium()
        guard key.count == Self.keyBytes else {
            throw SealError(.invalidKey, .misuse, "XChaCha20-Poly1305 key must be 32 bytes")
        }
        self.key = key
    }

    /// Encrypts `message` into `output` (`message.count + 16` bytes: ciphertext then tag).
    @inline(__always)
    func seal(
        into output: UnsafeMutablePointer<UInt8>, message: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        nonce: UnsafePointer<UInt8>
    ) throws(SealError) {
        var written: UInt64 = 0
        let rc = key.withUnsafePointer { key in
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                output, &written, message.bytes, UInt64(message.count), aad.bytes, UInt64(aad.count), nil, nonce, key)
        }
        guard rc == 0, written == UInt64(message.count + Self.tagBytes) else {
            throw SealError(.cryptoFailure, .library, "xchacha20poly1305 encrypt")
        }
    }

    /// Decrypts `ciphertextAndTag` into `output` (`ciphertextAndTag.count - 16` bytes). Returns false
    /// when authentication fails or the input is shorter than a tag.
    @inline(__always)
    func open(
        into output: UnsafeMutablePointer<UInt8>, ciphertextAndTag: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer, nonce: UnsafePointer<UInt8>
    ) -> Bool {
        guard ciphertextAndTag.count >= Self.tagBytes else { return false }
        var written: UInt64 = 0
        let rc = key.withUnsafePointer { key in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                output, &written, nil, ciphertextAndTag.bytes, UInt64(ciphertextAndTag.count), aad.bytes,
                UInt64(aad.count), nonce, key)
        }
        return rc == 0 && written == UInt64(ciphertextAndTag.count - Self.tagBytes)
    }
}

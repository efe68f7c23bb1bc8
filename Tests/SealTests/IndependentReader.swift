import CSodium

/// Decrypts with libsodium directly, as an outside reader following Specs/envelope.md would.
func independentXChaChaDecrypt(
    out: UnsafeMutableRawBufferPointer, ciphertext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
    nonce: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
) -> Bool {
    guard sodium_init() >= 0, nonce.count == 24, key.count == 32, ciphertext.count >= 16 else { return false }
    var written: UInt64 = 0
    let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        out.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, nil,
        ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count),
        aad.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(aad.count),
        nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    return rc == 0
}

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

/// AES-256-GCM decryption with libsodium (combined ciphertext || tag); nil when the CPU lacks AES-NI.
func independentAESGCMDecrypt(ciphertext: [UInt8], aad: [UInt8], iv: [UInt8], key: [UInt8]) -> [UInt8]?? {
    guard sodium_init() >= 0, crypto_aead_aes256gcm_is_available() == 1 else { return .some(nil) }
    guard ciphertext.count >= 16 else { return nil }
    var out = [UInt8](repeating: 0, count: ciphertext.count - 16 + 1)
    var written: UInt64 = 0
    let rc = crypto_aead_aes256gcm_decrypt(
        &out, &written, nil, ciphertext, UInt64(ciphertext.count), aad, UInt64(aad.count), iv, key)
    return rc == 0 ? Array(out.prefix(Int(written))) : nil
}

/// HMAC-SHA256 with libsodium's incremental API.
func independentHMACSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
    precondition(sodium_init() >= 0)
    var state = crypto_auth_hmacsha256_state()
    var tag = [UInt8](repeating: 0, count: 32)
    crypto_auth_hmacsha256_init(&state, key, key.count)
    crypto_auth_hmacsha256_update(&state, message, UInt64(message.count))
    crypto_auth_hmacsha256_final(&state, &tag)
    return tag
}

/// Builds `u16 len(topic) || topic || u32 len(context) || context` as Specs/envelope.md 3.1 says.
func specBinding(topic: String, context: [UInt8]) -> [UInt8] {
    let t = Array(topic.utf8)
    return [UInt8(t.count >> 8), UInt8(t.count & 0xFF)] + t
        + [
            UInt8(context.count >> 24 & 0xFF), UInt8(context.count >> 16 & 0xFF), UInt8(context.count >> 8 & 0xFF),
            UInt8(context.count & 0xFF),
        ] + context
}

import CSodium

/// The libsodium calls the rest of the package needs beyond the envelope core, in one place: the keyring's
/// Argon2id, BLAKE2b sub-keys and hashes, secrets at rest, and the small helpers (random ids, hex, wiping).
///
/// Only `Seal/Crypto/` imports libsodium: other modules (SealKeyring, SealFleet) call these, so there is one
/// initialisation (``ensureSodium()``), one constant-time comparison and one XChaCha20-Poly1305 wrapper.
/// Every return code is checked.
package enum Sodium {
    /// Secret key length of XChaCha20-Poly1305 and of `crypto_kdf`.
    package static let keyBytes = 32
    /// `crypto_pwhash_SALTBYTES`.
    package static let saltBytes = Int(crypto_pwhash_saltbytes())
    /// XChaCha20-Poly1305 nonce and tag lengths.
    package static let aeadNonceBytes = XChaCha20Poly1305.nonceBytes
    package static let aeadTagBytes = XChaCha20Poly1305.tagBytes

    /// libsodium's Argon2id presets (`crypto_pwhash_{OPS,MEM}LIMIT_{MIN,INTERACTIVE,MODERATE}`).
    package static var opsLimitMin: UInt64 { UInt64(crypto_pwhash_opslimit_min()) }
    package static var memLimitMin: UInt64 { UInt64(crypto_pwhash_memlimit_min()) }
    package static var opsLimitInteractive: UInt64 { UInt64(crypto_pwhash_opslimit_interactive()) }
    package static var memLimitInteractive: UInt64 { UInt64(crypto_pwhash_memlimit_interactive()) }
    package static var opsLimitModerate: UInt64 { UInt64(crypto_pwhash_opslimit_moderate()) }
    package static var memLimitModerate: UInt64 { UInt64(crypto_pwhash_memlimit_moderate()) }

    /// Traps when libsodium cannot start: nothing in the package can work then.
    static func ready() {
        precondition((try? ensureSodium()) != nil, "libsodium failed to initialise")
    }

    /// A uniformly random 32-bit value (ids).
    package static func randomUInt32() -> UInt32 {
        ready()
        return randombytes_random()
    }

    /// `count` random bytes (public values: salts, nonces). Secrets use ``SecureBytes/init(randomCount:)``.
    package static func randomBytes(_ count: Int) -> [UInt8] {
        ready()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { if let base = $0.baseAddress, $0.count > 0 { randombytes_buf(base, $0.count) } }
        return out
    }

    /// Zeroes `buffer` in a way the optimiser keeps.
    package static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        if let base = buffer.baseAddress, buffer.count > 0 { sodium_memzero(base, buffer.count) }
    }

    /// Constant-time equality of two byte strings of public length.
    package static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        lhs.withUnsafeBytes { l in rhs.withUnsafeBytes { r in constantTimeEquals(l, r) } }
    }

    /// Argon2id13 (`crypto_pwhash`) of `password` into 32 bytes; nil when libsodium refuses (out of memory, limits
    /// out of its range).
    package static func argon2id(
        password: SecureBytes, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64
    ) -> SecureBytes? {
        ready()
        guard salt.count == saltBytes, let ops = CUnsignedLongLong(exactly: opsLimit),
            let mem = Int(exactly: memLimit)
        else { return nil }
        var rc: Int32 = -1
        let derived = SecureBytes(count: keyBytes) { out in
            rc = password.withUnsafeBytes { passwordBytes in
                salt.withUnsafeBufferPointer { saltBuffer in
                    crypto_pwhash(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), CUnsignedLongLong(out.count),
                        passwordBytes.baseAddress!.assumingMemoryBound(to: CChar.self),
                        CUnsignedLongLong(passwordBytes.count), saltBuffer.baseAddress!, ops, mem,
                        crypto_pwhash_alg_argon2id13())
                }
            }
        }
        return rc == 0 ? derived : nil
    }

    /// A 32-byte sub-key of a 32-byte `master` (`crypto_kdf_derive_from_key`, 8-byte `context`).
    package static func subkey(_ master: SecureBytes, id: UInt64, context: StaticString) -> SecureBytes {
        ready()
        precondition(master.count == Int(crypto_kdf_keybytes()) && context.utf8CodeUnitCount == 8)
        return SecureBytes(count: keyBytes) { out in
            let rc = master.withUnsafeBytes { key in
                context.withUTF8Buffer { name in
                    name.withMemoryRebound(to: CChar.self) { name in
                        crypto_kdf_derive_from_key(
                            out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count, id, name.baseAddress!,
                            key.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
            precondition(rc == 0, "crypto_kdf_derive_from_key failed with valid sizes")
        }
    }

    /// BLAKE2b-256 (`crypto_generichash`) of `bytes`, keyed when `key` is given.
    package static func blake2b(_ bytes: [UInt8], key: SecureBytes? = nil) -> [UInt8] {
        ready()
        var out = [UInt8](repeating: 0, count: 32)
        let rc = out.withUnsafeMutableBufferPointer { outBuffer in
            bytes.withUnsafeBufferPointer { input in
                guard let key else {
                    return crypto_generichash(
                        outBuffer.baseAddress!, outBuffer.count, input.baseAddress, CUnsignedLongLong(input.count),
                        nil, 0)
                }
                return key.withUnsafeBytes { keyBuffer in
                    crypto_generichash(
                        outBuffer.baseAddress!, outBuffer.count, input.baseAddress, CUnsignedLongLong(input.count),
                        keyBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBuffer.count)
                }
            }
        }
        precondition(rc == 0, "crypto_generichash failed with valid sizes")
        return out
    }

    /// XChaCha20-Poly1305 for data at rest: `nonce || ciphertext || tag`, with a fresh random nonce.
    package static func sealAtRest(
        _ plaintext: UnsafeRawBufferPointer, key: SecureBytes, aad: [UInt8]
    ) throws(SealError) -> [UInt8] {
        let cipher = try XChaCha20Poly1305(key: key)
        let nonce = randomBytes(aeadNonceBytes)
        var out = [UInt8](repeating: 0, count: aeadNonceBytes + plaintext.count + aeadTagBytes)
        let result = out.withUnsafeMutableBufferPointer { outBuffer in
            for index in 0..<aeadNonceBytes { outBuffer[index] = nonce[index] }
            return aad.withUnsafeBytes { aadBytes in
                Result { () throws(SealError) in
                    try cipher.seal(
                        into: outBuffer.baseAddress! + aeadNonceBytes, message: plaintext, aad: aadBytes,
                        nonce: UnsafePointer(outBuffer.baseAddress!))
                }
            }
        }
        try result.get()
        return out
    }

    /// Opens `nonce || ciphertext || tag` from ``sealAtRest(_:key:aad:)``; nil when authentication fails.
    package static func openAtRest(_ sealed: [UInt8], key: SecureBytes, aad: [UInt8]) -> SecureBytes? {
        guard let cipher = try? XChaCha20Poly1305(key: key), sealed.count >= aeadNonceBytes + aeadTagBytes else {
            return nil
        }
        var ok = false
        let opened = SecureBytes(count: sealed.count - aeadNonceBytes - aeadTagBytes) { out in
            ok = sealed.withUnsafeBytes { input in
                aad.withUnsafeBytes { aadBytes in
                    cipher.open(
                        into: out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        ciphertextAndTag: UnsafeRawBufferPointer(rebasing: input[aeadNonceBytes...]), aad: aadBytes,
                        nonce: input.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        return ok ? opened : nil
    }

    /// Lower-case hex of `bytes` into a fresh array (`sodium_bin2hex`, constant time), without a terminator.
    package static func hex(_ secret: SecureBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 2 * secret.count + 1)
        secret.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { buffer in
                _ = sodium_bin2hex(
                    UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self), buffer.count,
                    raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count)
            }
        }
        out.removeLast()
        return out
    }

    /// Decodes exactly `byteCount` bytes from hex digits (`sodium_hex2bin`, constant time); nil for anything
    /// else.
    package static func unhex(_ digits: ArraySlice<UInt8>, byteCount: Int) -> SecureBytes? {
        guard digits.count == 2 * byteCount else { return nil }
        var decoded = 0
        var rc: Int32 = -1
        let secret = SecureBytes(count: byteCount) { out in
            rc = digits.withUnsafeBufferPointer { input in
                sodium_hex2bin(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count,
                    UnsafeRawPointer(input.baseAddress!).assumingMemoryBound(to: CChar.self), input.count, nil,
                    &decoded, nil)
            }
        }
        return rc == 0 && decoded == byteCount ? secret : nil
    }
}

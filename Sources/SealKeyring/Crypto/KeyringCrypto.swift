internal import CSodium
package import Seal

/// Thin wrappers over the libsodium calls the keyring needs that the envelope core does not provide:
/// Argon2id (`crypto_pwhash`), BLAKE2b sub-key derivation (`crypto_kdf`), BLAKE2b hash / keyed MAC
/// (`crypto_generichash`) and XChaCha20-Poly1305 for secrets at rest. Every return code is checked.
package enum KeyringSodium {
    private static let initialized: Bool = sodium_init() >= 0

    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }

    static let keyBytes = 32
    static let aeadNonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_npubbytes())
    static let aeadTagBytes = Int(crypto_aead_xchacha20poly1305_ietf_abytes())
    static let saltBytes = Int(crypto_pwhash_saltbytes())
    static let hashBytes = 32

    static var opsLimitMin: UInt64 { UInt64(crypto_pwhash_opslimit_min()) }
    static var memLimitMin: UInt64 { UInt64(crypto_pwhash_memlimit_min()) }
    static var opsLimitInteractive: UInt64 { UInt64(crypto_pwhash_opslimit_interactive()) }
    static var memLimitInteractive: UInt64 { UInt64(crypto_pwhash_memlimit_interactive()) }
    static var opsLimitModerate: UInt64 { UInt64(crypto_pwhash_opslimit_moderate()) }
    static var memLimitModerate: UInt64 { UInt64(crypto_pwhash_memlimit_moderate()) }

    static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return out
    }

    package static func randomUInt32() -> UInt32 {
        ensureInitialized()
        return randombytes_random()
    }

    /// Argon2id13 over the passphrase.
    static func deriveKEK(
        passphrase: SecureBytes, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64
    ) throws(KeyringError) -> SecureBytes {
        ensureInitialized()
        guard salt.count == saltBytes else { throw KeyringError(.corrupt, "KDF salt has the wrong length") }
        guard let ops = CUnsignedLongLong(exactly: opsLimit), let mem = Int(exactly: memLimit) else {
            throw KeyringError(.invalidArgument, "KDF limits out of range")
        }
        var rc: Int32 = -1
        let derived = SecureBytes(count: keyBytes) { out in
            rc = passphrase.withUnsafeBytes { password in
                salt.withUnsafeBufferPointer { saltBuffer in
                    crypto_pwhash(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), CUnsignedLongLong(out.count),
                        password.baseAddress!.assumingMemoryBound(to: CChar.self),
                        CUnsignedLongLong(password.count), saltBuffer.baseAddress!, ops, mem,
                        crypto_pwhash_alg_argon2id13())
                }
            }
        }
        guard rc == 0 else {
            throw KeyringError(.io, "Argon2id key derivation failed (out of memory for memlimit \(memLimit)?)")
        }
        return derived
    }

    /// A 32-byte sub-key of `master` (`crypto_kdf_derive_from_key`, context `MQSEALKR`).
    static func subkey(_ master: SecureBytes, id: UInt64) -> SecureBytes {
        ensureInitialized()
        precondition(master.count == Int(crypto_kdf_keybytes()))
        return SecureBytes(count: keyBytes) { out in
            let rc = master.withUnsafeBytes { key in
                crypto_kdf_derive_from_key(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count, id, "MQSEALKR",
                    key.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            precondition(rc == 0, "crypto_kdf_derive_from_key failed with valid sizes")
        }
    }

    /// BLAKE2b-256 of `bytes`, keyed when `key` is given.
    package static func hash(_ bytes: [UInt8], key: SecureBytes? = nil) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: hashBytes)
        let rc = out.withUnsafeMutableBufferPointer { outBuffer in
            bytes.withUnsafeBufferPointer { input in
                if let key {
                    return key.withUnsafeBytes { keyBuffer in
                        crypto_generichash(
                            outBuffer.baseAddress!, outBuffer.count, input.baseAddress, CUnsignedLongLong(input.count),
                            keyBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBuffer.count)
                    }
                }
                return crypto_generichash(
                    outBuffer.baseAddress!, outBuffer.count, input.baseAddress, CUnsignedLongLong(input.count), nil, 0)
            }
        }
        precondition(rc == 0, "crypto_generichash failed with valid sizes")
        return out
    }

    /// Constant-time comparison of two public byte strings of equal length (tags, MACs, check values).
    package static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.isEmpty { return true }
        return lhs.withUnsafeBytes { l in
            rhs.withUnsafeBytes { r in sodium_memcmp(l.baseAddress, r.baseAddress, l.count) == 0 }
        }
    }

    /// XChaCha20-Poly1305: returns `nonce || ciphertext || tag` with a fresh random nonce.
    static func seal(_ plaintext: UnsafeRawBufferPointer, key: SecureBytes, aad: [UInt8]) -> [UInt8] {
        ensureInitialized()
        let nonce = randomBytes(aeadNonceBytes)
        var out = [UInt8](repeating: 0, count: aeadNonceBytes + plaintext.count + aeadTagBytes)
        var written: CUnsignedLongLong = 0
        let rc = out.withUnsafeMutableBufferPointer { outBuffer in
            key.withUnsafeBytes { keyBuffer in
                aad.withUnsafeBufferPointer { aadBuffer in
                    nonce.withUnsafeBufferPointer { nonceBuffer in
                        crypto_aead_xchacha20poly1305_ietf_encrypt(
                            outBuffer.baseAddress! + aeadNonceBytes, &written, plaintext.bytes,
                            CUnsignedLongLong(plaintext.count), aadBuffer.baseAddress,
                            CUnsignedLongLong(aadBuffer.count), nil, nonceBuffer.baseAddress!,
                            keyBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
        }
        precondition(rc == 0 && Int(written) == plaintext.count + aeadTagBytes, "XChaCha20-Poly1305 encrypt failed")
        for index in 0..<aeadNonceBytes { out[index] = nonce[index] }
        return out
    }

    /// Opens `nonce || ciphertext || tag`; nil when authentication fails.
    static func open(_ sealed: [UInt8], key: SecureBytes, aad: [UInt8]) -> SecureBytes? {
        ensureInitialized()
        guard sealed.count >= aeadNonceBytes + aeadTagBytes else { return nil }
        let plainCount = sealed.count - aeadNonceBytes - aeadTagBytes
        var ok = false
        let opened = SecureBytes(count: plainCount) { out in
            var written: CUnsignedLongLong = 0
            let rc = sealed.withUnsafeBufferPointer { input in
                key.withUnsafeBytes { keyBuffer in
                    aad.withUnsafeBufferPointer { aadBuffer in
                        crypto_aead_xchacha20poly1305_ietf_decrypt(
                            out.mutableBytes, &written, nil,
                            input.baseAddress! + aeadNonceBytes, CUnsignedLongLong(input.count - aeadNonceBytes),
                            aadBuffer.baseAddress, CUnsignedLongLong(aadBuffer.count), input.baseAddress!,
                            keyBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
            ok = rc == 0 && Int(written) == plainCount
        }
        return ok ? opened : nil
    }
}

extension KeyringSodium {
    /// Rejects anything but a 32-byte, valid, prime-order-subgroup Ed25519 point (the core's import check).
    package static func verifyingKey(
        sid: UInt32, _ key: [UInt8], code: KeyringError.Code = .invalidArgument
    ) throws(KeyringError) -> VerifyingKey {
        do {
            return try VerifyingKey(id: sid, rawRepresentation: key)
        } catch {
            throw KeyringError(code, "not a valid Ed25519 public key")
        }
    }
}

internal import CSodium

/// Secret bytes owned by the keyring layer (KEK, sub-keys, decrypted secrets before they are handed to the key
/// types). Immutable after creation, wiped with `sodium_memzero` on deinit.
final class KeyringSecretBytes: @unchecked Sendable {
    private let pointer: UnsafeMutableRawBufferPointer

    var count: Int { pointer.count }

    /// Allocates `count` bytes and lets `body` fill them. On a throw the bytes are wiped.
    init<E: Error>(count: Int, fill body: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        do {
            try body(view)
        } catch {
            sodium_memzero(buffer.baseAddress, buffer.count)
            buffer.deallocate()
            throw error
        }
        self.pointer = view
        self.allocation = buffer
    }

    private let allocation: UnsafeMutableRawBufferPointer

    /// Random secret bytes from libsodium's CSPRNG.
    convenience init(randomCount count: Int) {
        KeyringSodium.ensureInitialized()
        self.init(count: count) { (buffer: UnsafeMutableRawBufferPointer) in
            randombytes_buf(buffer.baseAddress!, buffer.count)
        }
    }

    /// Copies bytes in. The caller is responsible for wiping its own copy.
    convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count) { (buffer: UnsafeMutableRawBufferPointer) in
            if bytes.count > 0 { buffer.copyMemory(from: bytes) }
        }
    }

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(pointer))
    }

    /// Constant-time equality (lengths are not secret).
    func constantTimeEquals(_ other: KeyringSecretBytes) -> Bool {
        guard count == other.count else { return false }
        return withUnsafeBytes { lhs in
            other.withUnsafeBytes { rhs in sodium_memcmp(lhs.baseAddress, rhs.baseAddress, lhs.count) == 0 }
        }
    }

    deinit {
        sodium_memzero(allocation.baseAddress, allocation.count)
        allocation.deallocate()
    }
}

/// Thin wrappers over the libsodium calls the keyring needs that the envelope core does not provide:
/// Argon2id (`crypto_pwhash`), BLAKE2b sub-key derivation (`crypto_kdf`), BLAKE2b hash / keyed MAC
/// (`crypto_generichash`) and XChaCha20-Poly1305 for secrets at rest. Every return code is checked.
enum KeyringSodium {
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

    static func randomUInt32() -> UInt32 {
        ensureInitialized()
        return randombytes_random()
    }

    /// Argon2id13 over the passphrase.
    static func deriveKEK(
        passphrase: KeyringSecretBytes, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64
    ) throws(KeyringError) -> KeyringSecretBytes {
        ensureInitialized()
        guard salt.count == saltBytes else { throw KeyringError(.corrupt, "KDF salt has the wrong length") }
        guard let ops = CUnsignedLongLong(exactly: opsLimit), let mem = Int(exactly: memLimit) else {
            throw KeyringError(.invalidArgument, "KDF limits out of range")
        }
        return try KeyringSecretBytes(count: keyBytes) { (out: UnsafeMutableRawBufferPointer) throws(KeyringError) in
            let rc = passphrase.withUnsafeBytes { password in
                salt.withUnsafeBufferPointer { saltBuffer in
                    crypto_pwhash(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), CUnsignedLongLong(out.count),
                        password.baseAddress!.assumingMemoryBound(to: CChar.self),
                        CUnsignedLongLong(password.count), saltBuffer.baseAddress!, ops, mem,
                        crypto_pwhash_alg_argon2id13())
                }
            }
            guard rc == 0 else {
                throw KeyringError(.io, "Argon2id key derivation failed (out of memory for memlimit \(memLimit)?)")
            }
        }
    }

    /// A 32-byte sub-key of `master` (`crypto_kdf_derive_from_key`, context `MQSEALKR`).
    static func subkey(_ master: KeyringSecretBytes, id: UInt64) -> KeyringSecretBytes {
        ensureInitialized()
        precondition(master.count == Int(crypto_kdf_keybytes()))
        return KeyringSecretBytes(count: keyBytes) { (out: UnsafeMutableRawBufferPointer) in
            let rc = master.withUnsafeBytes { key in
                crypto_kdf_derive_from_key(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count, id, "MQSEALKR",
                    key.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            precondition(rc == 0, "crypto_kdf_derive_from_key failed with valid sizes")
        }
    }

    /// BLAKE2b-256 of `bytes`, keyed when `key` is given.
    static func hash(_ bytes: [UInt8], key: KeyringSecretBytes? = nil) -> [UInt8] {
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
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.isEmpty { return true }
        return lhs.withUnsafeBytes { l in
            rhs.withUnsafeBytes { r in sodium_memcmp(l.baseAddress, r.baseAddress, l.count) == 0 }
        }
    }

    /// XChaCha20-Poly1305: returns `nonce || ciphertext || tag` with a fresh random nonce.
    static func seal(_ plaintext: KeyringSecretBytes, key: KeyringSecretBytes, aad: [UInt8]) -> [UInt8] {
        ensureInitialized()
        let nonce = randomBytes(aeadNonceBytes)
        var out = [UInt8](repeating: 0, count: aeadNonceBytes + plaintext.count + aeadTagBytes)
        var written: CUnsignedLongLong = 0
        let rc = out.withUnsafeMutableBufferPointer { outBuffer in
            plaintext.withUnsafeBytes { message in
                key.withUnsafeBytes { keyBuffer in
                    aad.withUnsafeBufferPointer { aadBuffer in
                        nonce.withUnsafeBufferPointer { nonceBuffer in
                            crypto_aead_xchacha20poly1305_ietf_encrypt(
                                outBuffer.baseAddress! + aeadNonceBytes, &written,
                                message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                CUnsignedLongLong(message.count), aadBuffer.baseAddress,
                                CUnsignedLongLong(aadBuffer.count), nil, nonceBuffer.baseAddress!,
                                keyBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                        }
                    }
                }
            }
        }
        precondition(rc == 0 && Int(written) == plaintext.count + aeadTagBytes, "XChaCha20-Poly1305 encrypt failed")
        for index in 0..<aeadNonceBytes { out[index] = nonce[index] }
        return out
    }

    /// Opens `nonce || ciphertext || tag`; nil when authentication fails.
    static func open(_ sealed: [UInt8], key: KeyringSecretBytes, aad: [UInt8]) -> KeyringSecretBytes? {
        ensureInitialized()
        guard sealed.count >= aeadNonceBytes + aeadTagBytes else { return nil }
        let plainCount = sealed.count - aeadNonceBytes - aeadTagBytes
        return try? KeyringSecretBytes(count: plainCount) { (out: UnsafeMutableRawBufferPointer) throws(KeyringError) in
            var written: CUnsignedLongLong = 0
            let rc = sealed.withUnsafeBufferPointer { input in
                key.withUnsafeBytes { keyBuffer in
                    aad.withUnsafeBufferPointer { aadBuffer in
                        crypto_aead_xchacha20poly1305_ietf_decrypt(
                            out.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, nil,
                            input.baseAddress! + aeadNonceBytes, CUnsignedLongLong(input.count - aeadNonceBytes),
                            aadBuffer.baseAddress, CUnsignedLongLong(aadBuffer.count), input.baseAddress!,
                            keyBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
            guard rc == 0, Int(written) == plainCount else { throw KeyringError(.corrupt, "secret does not decrypt") }
        }
    }
}

extension KeyringSodium {
    /// The Ed25519 public key of a 32-byte seed (`crypto_sign_seed_keypair`).
    static func ed25519PublicKey(seed: KeyringSecretBytes) -> [UInt8] {
        ensureInitialized()
        var publicKey = [UInt8](repeating: 0, count: Int(crypto_sign_publickeybytes()))
        let secretCount = Int(crypto_sign_secretkeybytes())
        var secret = [UInt8](repeating: 0, count: secretCount)
        let rc = publicKey.withUnsafeMutableBufferPointer { pk in
            secret.withUnsafeMutableBufferPointer { sk in
                seed.withUnsafeBytes { seedBuffer in
                    crypto_sign_seed_keypair(
                        pk.baseAddress!, sk.baseAddress!, seedBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        secret.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        precondition(rc == 0, "crypto_sign_seed_keypair failed")
        return publicKey
    }

    /// Rejects anything but a 32-byte, valid, prime-order-subgroup Ed25519 point.
    static func validateEd25519PublicKey(
        _ key: [UInt8], code: KeyringError.Code = .invalidArgument
    ) throws(KeyringError) {
        ensureInitialized()
        guard key.count == Int(crypto_sign_publickeybytes()),
            key.withUnsafeBufferPointer({ crypto_core_ed25519_is_valid_point($0.baseAddress!) }) == 1
        else { throw KeyringError(code, "not a valid Ed25519 public key") }
    }
}

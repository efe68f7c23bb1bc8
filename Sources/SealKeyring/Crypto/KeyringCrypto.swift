package import Seal

/// The keyring's cryptography, named for what the keyring does with it: Argon2id for the passphrase,
/// BLAKE2b sub-keys and hashes, XChaCha20-Poly1305 for secrets at rest. Every primitive is Seal's libsodium facade
/// (`Sodium`, in Seal/Crypto): this module does not import libsodium itself.
package enum KeyringSodium {
    static let keyBytes = Sodium.keyBytes
    static let aeadNonceBytes = Sodium.aeadNonceBytes
    static let aeadTagBytes = Sodium.aeadTagBytes
    static let saltBytes = Sodium.saltBytes
    static let hashBytes = 32

    static var opsLimitMin: UInt64 { Sodium.opsLimitMin }
    static var memLimitMin: UInt64 { Sodium.memLimitMin }
    static var opsLimitInteractive: UInt64 { Sodium.opsLimitInteractive }
    static var memLimitInteractive: UInt64 { Sodium.memLimitInteractive }
    static var opsLimitModerate: UInt64 { Sodium.opsLimitModerate }
    static var memLimitModerate: UInt64 { Sodium.memLimitModerate }

    static func randomBytes(_ count: Int) -> [UInt8] { Sodium.randomBytes(count) }

    package static func randomUInt32() -> UInt32 { Sodium.randomUInt32() }

    /// Argon2id13 over the passphrase.
    static func deriveKEK(
        passphrase: SecureBytes, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64
    ) throws(KeyringError) -> SecureBytes {
        guard salt.count == saltBytes else { throw KeyringError(.corrupt, "KDF salt has the wrong length") }
        guard CUnsignedLongLong(exactly: opsLimit) != nil, Int(exactly: memLimit) != nil else {
            throw KeyringError(.invalidArgument, "KDF limits out of range")
        }
        guard let derived = Sodium.argon2id(password: passphrase, salt: salt, opsLimit: opsLimit, memLimit: memLimit)
        else {
            throw KeyringError(.io, "Argon2id key derivation failed (out of memory for memlimit \(memLimit)?)")
        }
        return derived
    }

    /// A 32-byte sub-key of `master` (`crypto_kdf_derive_from_key`, context `MQSEALKR`).
    static func subkey(_ master: SecureBytes, id: UInt64) -> SecureBytes {
        Sodium.subkey(master, id: id, context: "MQSEALKR")
    }

    /// BLAKE2b-256 of `bytes`, keyed when `key` is given.
    package static func hash(_ bytes: [UInt8], key: SecureBytes? = nil) -> [UInt8] { Sodium.blake2b(bytes, key: key) }

    /// Constant-time comparison of two public byte strings of equal length (tags, MACs, check values).
    package static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        Sodium.constantTimeEqual(lhs, rhs)
    }

    /// XChaCha20-Poly1305: returns `nonce || ciphertext || tag` with a fresh random nonce.
    static func seal(_ plaintext: UnsafeRawBufferPointer, key: SecureBytes, aad: [UInt8]) -> [UInt8] {
        do {
            return try Sodium.sealAtRest(plaintext, key: key, aad: aad)
        } catch {
            preconditionFailure("XChaCha20-Poly1305 encrypt failed: \(error.message)")
        }
    }

    /// Opens `nonce || ciphertext || tag`; nil when authentication fails.
    static func open(_ sealed: [UInt8], key: SecureBytes, aad: [UInt8]) -> SecureBytes? {
        Sodium.openAtRest(sealed, key: key, aad: aad)
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

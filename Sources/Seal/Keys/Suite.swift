/// A key's algorithm suite. It is fixed when the key is created and never appears on the wire:
/// the receiver learns it from the key it finds by key id.
public enum Suite: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// XChaCha20-Poly1305 (libsodium), 24-byte nonce. The default.
    case xchacha20poly1305 = "xchacha20poly1305"
    /// AES-256-GCM (OpenSSL), 12-byte random nonce; at most 2^32 messages per key.
    case aes256gcm = "aes256gcm"
    /// HMAC-SHA256 (OpenSSL); the payload stays in clear.
    case hmacSHA256 = "hmac-sha256"
    /// Ed25519 detached signatures (libsodium). Used by ``SigningKey`` and ``VerifyingKey``, not by ``SealKey``.
    case ed25519 = "ed25519"

    /// The suite's name as used in files and on the command line (the raw value).
    public var description: String { rawValue }

    /// The envelope modes a key of this suite may open or seal.
    public var allowedModes: Set<SealMode> {
        switch self {
        case .xchacha20poly1305, .aes256gcm: [.encrypt, .encryptAndSign]
        case .hmacSHA256: [.mac]
        case .ed25519: [.sign]
        }
    }

    /// Whether this suite is a symmetric suite usable by ``SealKey``.
    public var isSymmetric: Bool { self != .ed25519 }

    /// Whether a key of this suite may be used in `mode` (no trial decryption, no downgrade).
    @inline(__always)
    func allows(_ mode: SealMode) -> Bool {
        switch (self, mode) {
        case (.xchacha20poly1305, .encrypt), (.xchacha20poly1305, .encryptAndSign),
            (.aes256gcm, .encrypt), (.aes256gcm, .encryptAndSign),
            (.hmacSHA256, .mac), (.ed25519, .sign):
            true
        default: false
        }
    }
}

/// The four envelope modes (the low three bits of the envelope's first byte).
public enum SealMode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// AEAD encryption of the payload (XChaCha20-Poly1305 or AES-256-GCM key).
    case encrypt = 1
    /// AEAD encryption, then an Ed25519 signature over the ciphertext (encrypt-then-sign).
    case encryptAndSign = 2
    /// HMAC-SHA256 over the payload in clear.
    case mac = 3
    /// Ed25519 signature over the payload in clear.
    case sign = 4

    /// The mode's name for logs.
    public var description: String {
        switch self {
        case .encrypt: "encrypt"
        case .encryptAndSign: "encrypt+sign"
        case .mac: "mac"
        case .sign: "sign"
        }
    }

    /// Whether the mode carries an Ed25519 signature.
    public var isSigned: Bool { self == .encryptAndSign || self == .sign }
}

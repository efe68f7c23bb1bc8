/// A symmetric key for one suite (XChaCha20-Poly1305, AES-256-GCM or HMAC-SHA256), with its key id.
///
/// The 32 secret bytes live in storage that is wiped when the key is released. Per-key C state (the
/// AES key schedule, the keyed HMAC context) is built once here and reused by every message; a
/// `SealKey` is safe to share between threads and tasks.
public final class SealKey: Sendable, CustomStringConvertible {
    /// The length of every symmetric key: 32 bytes.
    public static let byteCount = 32

    /// The key id (`kid` on the wire): random, unique in a keyring, never reused.
    public let id: UInt32
    /// The key's suite; it decides which modes the key allows.
    public let suite: Suite

    /// The primitive with its per-key state.
    enum Primitive: Sendable {
        case xchacha(XChaCha20Poly1305)
        case aes(AES256GCM)
        case hmac(HMACSHA256)
    }

    let primitive: Primitive
    private let secret: SecureBytes

    /// Creates a key from 32 secret bytes.
    ///
    /// - Throws: ``SealError/Code/invalidKey`` when `bytes` is not 32 bytes long or `suite` is
    ///   ``Suite/ed25519`` (use ``SigningKey`` for that).
    public convenience init(id: UInt32, suite: Suite, bytes: [UInt8]) throws(SealError) {
        let secret = bytes.withUnsafeBytes { SecureBytes(copying: $0) }
        try self.init(id: id, suite: suite, secret: secret)
    }

    /// Creates a key from 32 secret bytes in a buffer the caller owns (and may wipe afterwards).
    ///
    /// - Throws: ``SealError/Code/invalidKey`` as ``init(id:suite:bytes:)``.
    public convenience init(id: UInt32, suite: Suite, unsafeBytes bytes: UnsafeRawBufferPointer) throws(SealError) {
        try self.init(id: id, suite: suite, secret: SecureBytes(copying: bytes))
    }

    package init(
        id: UInt32, suite: Suite, secret: SecureBytes, aesMessageLimit: UInt64 = AES256GCM.invocationLimit
    ) throws(SealError) {
        try ensureSodium()
        guard secret.count == Self.byteCount else {
            throw SealError(.invalidKey, .misuse, "a \(suite) key must be \(Self.byteCount) bytes")
        }
        switch suite {
        case .xchacha20poly1305: primitive = .xchacha(try XChaCha20Poly1305(key: secret))
        case .aes256gcm: primitive = .aes(try AES256GCM(key: secret, invocationLimit: aesMessageLimit))
        case .hmacSHA256: primitive = .hmac(try HMACSHA256(key: secret))
        case .ed25519: throw SealError(.invalidKey, .misuse, "ed25519 is a signing suite: use SigningKey")
        }
        self.id = id
        self.suite = suite
        self.secret = secret
    }

    /// Generates a fresh random key.
    ///
    /// - Parameters:
    ///   - id: the key id; a random one when nil.
    ///   - suite: the suite, XChaCha20-Poly1305 by default.
    public static func generate(id: UInt32? = nil, suite: Suite = .xchacha20poly1305) throws(SealError) -> SealKey {
        try ensureSodium()
        return try SealKey(id: id ?? Sodium.randomUInt32(), suite: suite, secret: SecureBytes(randomCount: byteCount))
    }

    /// Calls `body` with the secret key bytes, for example to store them encrypted. Do not let the
    /// pointer escape and do not keep copies longer than needed.
    public func withUnsafeSecretBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try secret.withUnsafeBytes(body)
    }

    /// Whether `other` holds the same suite and secret bytes (constant-time over the secret).
    public func hasSameSecret(as other: SealKey) -> Bool {
        let same = secret.constantTimeEquals(other.secret)
        return same && suite == other.suite
    }

    /// How many more messages this key may seal in this process, or nil when its suite has no such limit.
    ///
    /// An AES-256-GCM key draws a random 96-bit IV per message and seals at most 2^32 messages (NIST SP 800-38D);
    /// past that every seal throws ``SealError/Code/keyExhausted``. The count is per `SealKey` object: processes
    /// (and keyring copies) that share a key share the budget, so rotate AES keys well before it runs out.
    /// XChaCha20-Poly1305 (192-bit nonces) and HMAC have no practical limit.
    public var remainingMessages: UInt64? {
        if case .aes(let cipher) = primitive { return cipher.remainingInvocations }
        return nil
    }

    /// A description without secret material.
    public var description: String { "SealKey(id: \(id), suite: \(suite))" }
}

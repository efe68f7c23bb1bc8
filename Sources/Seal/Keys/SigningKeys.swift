/// An Ed25519 public key that was validated on import, with the signer's key id.
///
/// Import rejects every encoding that is not canonical, not on the curve, of small order or outside
/// the prime-order subgroup (`crypto_core_ed25519_is_valid_point`), which closes the mixed-order
/// edge cases that `crypto_sign_verify_detached` of libsodium 1.0.18 would otherwise accept.
public struct VerifyingKey: Sendable, Hashable, CustomStringConvertible {
    /// Length of an Ed25519 public key: 32 bytes.
    public static let byteCount = 32

    /// The signer's key id (`sid` on the wire for signed modes).
    public let id: UInt32
    /// The 32-byte public key.
    public let rawRepresentation: [UInt8]

    /// Imports and validates a public key.
    ///
    /// - Throws: ``SealError/Code/invalidKey`` when the key is not 32 bytes or not a valid point.
    public init(id: UInt32, rawRepresentation: [UInt8]) throws(SealError) {
        try ensureSodium()
        guard rawRepresentation.count == Self.byteCount else {
            throw SealError(.invalidKey, .misuse, "an Ed25519 public key must be 32 bytes")
        }
        guard rawRepresentation.withUnsafeBytes({ Ed25519.isValidPublicKey($0) }) else {
            throw SealError(.invalidKey, .misuse, "not a valid Ed25519 point")
        }
        self.id = id
        self.rawRepresentation = rawRepresentation
    }

    /// Verifies a detached signature over `message`.
    @inline(__always)
    func isValidSignature(_ signature: UnsafeRawBufferPointer, for message: UnsafeRawBufferPointer) -> Bool {
        rawRepresentation.withUnsafeBytes { Ed25519.verify(signature: signature, message: message, publicKey: $0) }
    }

    /// Verifies a detached Ed25519 signature over a whole message (for documents outside the envelope, such as
    /// fleet key slots). False for any wrong length.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        signature.withUnsafeBytes { sig in message.withUnsafeBytes { isValidSignature(sig, for: $0) } }
    }

    /// The key id and the public key in hex.
    public var description: String {
        "VerifyingKey(id: \(id), \(rawRepresentation.map { String($0, radix: 16).leftPadded(2) }.joined()))"
    }
}

/// An Ed25519 signing key with the signer's key id. The secret key lives in wiped storage.
public final class SigningKey: Sendable, CustomStringConvertible {
    /// Length of an Ed25519 seed: 32 bytes.
    public static let seedByteCount = 32

    /// The signer's key id: `sid` of every envelope this key signs.
    public let id: UInt32
    /// The matching public key, to hand to receivers.
    public let verifyingKey: VerifyingKey
    let secretKey: SecureBytes
    private let seed: SecureBytes

    /// Creates a signing key from a 32-byte seed.
    ///
    /// - Throws: ``SealError/Code/invalidKey`` when the seed is not 32 bytes.
    public convenience init(id: UInt32, seed: [UInt8]) throws(SealError) {
        try self.init(id: id, seed: seed.withUnsafeBytes { SecureBytes(copying: $0) })
    }

    /// Creates a signing key from a 32-byte seed in a buffer the caller owns.
    ///
    /// - Throws: ``SealError/Code/invalidKey`` when the seed is not 32 bytes.
    public convenience init(id: UInt32, unsafeSeed seed: UnsafeRawBufferPointer) throws(SealError) {
        try self.init(id: id, seed: SecureBytes(copying: seed))
    }

    package init(id: UInt32, seed: SecureBytes) throws(SealError) {
        let pair = try Ed25519.keyPair(seed: seed)
        self.id = id
        self.seed = seed
        self.secretKey = pair.secret
        self.verifyingKey = try VerifyingKey(id: id, rawRepresentation: pair.publicKey)
    }

    /// Generates a fresh random signing key.
    ///
    /// - Parameter id: the signer's key id; a random one when nil.
    public static func generate(id: UInt32? = nil) throws(SealError) -> SigningKey {
        try ensureSodium()
        return try SigningKey(id: id ?? Sodium.randomUInt32(), seed: SecureBytes(randomCount: seedByteCount))
    }

    /// Calls `body` with the 32-byte secret seed, for example to store it encrypted. Do not let the
    /// pointer escape.
    public func withUnsafeSeedBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try seed.withUnsafeBytes(body)
    }

    /// The 64-byte detached Ed25519 signature of a whole message (for documents outside the envelope, such as
    /// fleet key slots and enrolment requests).
    ///
    /// - Throws: ``SealError`` (`cryptoFailure`) if libsodium fails.
    public func signature(for message: [UInt8]) throws(SealError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Ed25519.signatureBytes)
        var failure: SealError?
        out.withUnsafeMutableBufferPointer { buffer in
            message.withUnsafeBytes { raw in
                do throws(SealError) {
                    try Ed25519.sign(into: buffer.baseAddress!, message: raw, secretKey: secretKey)
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
        return out
    }

    /// A description without secret material.
    public var description: String { "SigningKey(id: \(id))" }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

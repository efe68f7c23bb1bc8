/// The one error type of the Seal module.
///
/// Every rejection of untrusted input (a received envelope) throws a `SealError` whose ``code`` is
/// ``Code/rejected``, whatever check failed: the code never tells a peer which check failed. The
/// ``reason`` names the check for local logs and counters only; never send it back to a peer.
///
/// Misuse by the local application (a key of the wrong length, a payload above the limit, a key that
/// cannot seal in the requested mode) gets its own codes, because those are programming errors, not
/// attacks.
public struct SealError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error code: stable, extensible, and the only thing to branch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) { self.name = name }

        /// An envelope was rejected: malformed, unknown key, wrong mode, failed authentication,
        /// replay, stale, from the future, bad or untrusted signature. One code for all of them.
        public static let rejected = Code("rejected")
        /// Key material has the wrong length, is not a valid point, or the suite does not fit the key type.
        public static let invalidKey = Code("invalidKey")
        /// A local argument is out of range: payload too large, topic or context too long.
        public static let invalidArgument = Code("invalidArgument")
        /// The keys given to a ``Sealer`` cannot seal in any mode (for example an HMAC key with a signer).
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// The C library reported an unexpected failure (out of memory, library not initialised).
        public static let cryptoFailure = Code("cryptoFailure")
        /// The key reached its usage limit and seals nothing more: an AES-256-GCM key after 2^32 messages (random
        /// IVs, NIST SP 800-38D). Rotate to a new key; ``SealKey/remainingMessages`` tells how close a key is.
        public static let keyExhausted = Code("keyExhausted")

        /// The code's name, for logs.
        public var description: String { name }
    }

    /// Which check produced the error. For logs and counters; it is deliberately not part of ``code``.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) { self.name = name }

        /// The envelope is too short, too long, has trailing bytes, or an unknown version or mode.
        public static let malformed = Reason("malformed")
        /// No key with the envelope's key id is known (or the key source refused it for this topic).
        public static let unknownKey = Reason("unknownKey")
        /// The key exists but its suite does not allow the envelope's mode.
        public static let modeNotAllowed = Reason("modeNotAllowed")
        /// AEAD tag or MAC mismatch: wrong key, tampered bytes, wrong topic or wrong context.
        public static let authenticationFailed = Reason("authenticationFailed")
        /// The Ed25519 signature does not verify.
        public static let badSignature = Reason("badSignature")
        /// The sender id does not name a trusted signer (or the key source refused it for this topic).
        public static let untrustedSigner = Reason("untrustedSigner")
        /// The (key id, sender id, sequence) was accepted before.
        public static let replayed = Reason("replayed")
        /// The sequence is below the replay window or below the floor left by evicted senders.
        public static let outsideWindow = Reason("outsideWindow")
        /// The timestamp is older than the freshness window (or the retained maximum age).
        public static let stale = Reason("stale")
        /// The timestamp lies further in the future than the allowed clock skew.
        public static let future = Reason("future")
        /// The topic given to open is not a valid topic (longer than 65535 UTF-8 bytes).
        public static let badTopic = Reason("badTopic")
        /// A local argument or key is invalid (misuse codes).
        public static let misuse = Reason("misuse")
        /// The C library failed unexpectedly.
        public static let library = Reason("library")
        /// A key reached its usage limit (``Code/keyExhausted``).
        public static let keyUsageLimit = Reason("keyUsageLimit")

        /// The reason's name, for logs.
        public var description: String { name }
    }

    /// The error code. All envelope rejections share ``Code/rejected``.
    public let code: Code
    /// The failed check, for local logging only.
    public let reason: Reason
    private let detail: String

    init(_ code: Code, _ reason: Reason, _ detail: String = "") {
        self.code = code
        self.reason = reason
        self.detail = detail
    }

    /// A rejection of untrusted input.
    static func rejected(_ reason: Reason) -> SealError { SealError(.rejected, reason) }

    /// One plain sentence for a local user (the detail, else the code and reason), without the type's name. For a
    /// rejection it names the check: show it to the local operator only, never to a peer.
    public var message: String { detail.isEmpty ? "\(code) (\(reason))" : detail }

    /// A human-readable description for logs: code, reason and detail. Never send it to a peer.
    public var description: String {
        detail.isEmpty ? "SealError(\(code): \(reason))" : "SealError(\(code): \(reason), \(detail))"
    }

    /// Two errors are equal when their code and reason are equal.
    public static func == (lhs: SealError, rhs: SealError) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason
    }

    /// Hashes the code and the reason.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(reason)
    }
}

/// The lifecycle state of a symmetric key in a keyring.
///
/// ```
/// pending -> primary -> decrypt-only -> disabled -> destroyed
/// ```
/// plus the recovery edges listed in ``allowedTransitions``. See Specs/keyring.md for the full table.
public enum KeyState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Distributed but not yet used for sealing; accepted for opening so that receivers are ready before the
    /// key is promoted.
    case pending
    /// The key that seals new messages on its topic scope; at most one per scope.
    case primary
    /// Retired from sealing; still opens messages sealed earlier.
    case decryptOnly = "decrypt-only"
    /// Neither seals nor opens; can be re-enabled (to decrypt-only) or destroyed.
    case disabled
    /// Tombstone: the secret is erased, the kid is never reused. Terminal.
    case destroyed

    /// The states this state may move to.
    ///
    /// - `pending`: `primary` (promote), `disabled` (withdraw before use).
    /// - `primary`: `decrypt-only` (retire; also done implicitly when another key of the scope is promoted).
    /// - `decrypt-only`: `primary` (promote again, to roll a rotation back), `disabled`.
    /// - `disabled`: `decrypt-only` (enable), `destroyed`.
    /// - `destroyed`: none.
    public var allowedTransitions: [KeyState] {
        switch self {
        case .pending: [.primary, .disabled]
        case .primary: [.decryptOnly]
        case .decryptOnly: [.primary, .disabled]
        case .disabled: [.decryptOnly, .destroyed]
        case .destroyed: []
        }
    }

    /// Whether moving from this state to `next` is allowed.
    public func canTransition(to next: KeyState) -> Bool { allowedTransitions.contains(next) }

    /// Whether a key in this state opens (decrypts / verifies) messages: pending, primary and decrypt-only.
    public var opens: Bool {
        switch self {
        case .pending, .primary, .decryptOnly: true
        case .disabled, .destroyed: false
        }
    }

    /// Whether a key in this state seals new messages: only primary.
    public var seals: Bool { self == .primary }

    /// The state's name as written in the keyring file, for example `decrypt-only`.
    public var description: String { rawValue }

    /// Parses a state name as written in the file (`pending`, `primary`, `decrypt-only`, `disabled`, `destroyed`).
    ///
    /// - Throws: ``KeyringError`` (``KeyringError/Code-swift.struct/invalidArgument``) naming the valid states.
    public init(parsing text: String) throws(KeyringError) {
        guard let state = KeyState(rawValue: text) else {
            throw KeyringError(
                .invalidArgument,
                "unknown key state \(TopicFilter.quoted(text)); valid: "
                    + KeyState.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = state
    }
}

/// The state of a trusted signer (a peer's Ed25519 verifying key) in a keyring.
public enum SignerState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Signatures by this signer are accepted on its topics.
    case active
    /// Signatures by this signer are rejected; can be re-enabled.
    case disabled
    /// Tombstone: rejected forever; the sid is never reused. Terminal.
    case revoked

    /// The states this state may move to: `active` -> `disabled` | `revoked`, `disabled` -> `active` | `revoked`.
    public var allowedTransitions: [SignerState] {
        switch self {
        case .active: [.disabled, .revoked]
        case .disabled: [.active, .revoked]
        case .revoked: []
        }
    }

    /// Whether moving from this state to `next` is allowed.
    public func canTransition(to next: SignerState) -> Bool { allowedTransitions.contains(next) }

    /// The state's name as written in the keyring file.
    public var description: String { rawValue }

    /// Parses a signer state name (`active`, `disabled`, `revoked`).
    ///
    /// - Throws: ``KeyringError`` (``KeyringError/Code-swift.struct/invalidArgument``) naming the valid states.
    public init(parsing text: String) throws(KeyringError) {
        guard let state = SignerState(rawValue: text) else {
            throw KeyringError(
                .invalidArgument,
                "unknown signer state \(TopicFilter.quoted(text)); valid: "
                    + SignerState.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = state
    }
}

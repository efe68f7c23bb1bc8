import Seal

/// Argon2id cost parameters for deriving the key-encryption key from a passphrase (`crypto_pwhash`).
///
/// Stored in the keyring header. A file naming limits outside the accepted range is refused before any
/// derivation, so a hostile file cannot make a reader allocate unbounded memory.
public struct KeyringKDFParameters: Sendable, Hashable, CustomStringConvertible {
    /// Argon2id passes (`opslimit`).
    public let opsLimit: UInt64
    /// Argon2id memory in bytes (`memlimit`).
    public let memLimit: UInt64

    /// The largest accepted `opslimit`.
    public static let maximumOpsLimit: UInt64 = 64
    /// The largest accepted `memlimit` (1 GiB, libsodium's "sensitive" level).
    public static let maximumMemLimit: UInt64 = 1 << 30

    /// Validates and creates parameters.
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) when a limit is below libsodium's minimum or above the maxima.
    public init(opsLimit: UInt64, memLimit: UInt64) throws(KeyringError) {
        guard opsLimit >= KeyringSodium.opsLimitMin, opsLimit <= Self.maximumOpsLimit else {
            throw KeyringError(
                .invalidArgument,
                "Argon2id opslimit \(opsLimit) is outside \(KeyringSodium.opsLimitMin)...\(Self.maximumOpsLimit)")
        }
        guard memLimit >= KeyringSodium.memLimitMin, memLimit <= Self.maximumMemLimit else {
            throw KeyringError(
                .invalidArgument,
                "Argon2id memlimit \(memLimit) is outside \(KeyringSodium.memLimitMin)...\(Self.maximumMemLimit)")
        }
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    private init(unchecked ops: UInt64, _ mem: UInt64) {
        opsLimit = ops
        memLimit = mem
    }

    /// libsodium's interactive level (2 passes, 64 MiB): the default for keyring files.
    public static var interactive: KeyringKDFParameters {
        KeyringKDFParameters(unchecked: KeyringSodium.opsLimitInteractive, KeyringSodium.memLimitInteractive)
    }

    /// libsodium's moderate level (3 passes, 256 MiB).
    public static var moderate: KeyringKDFParameters {
        KeyringKDFParameters(unchecked: KeyringSodium.opsLimitModerate, KeyringSodium.memLimitModerate)
    }

    /// The minimum libsodium accepts (1 pass, 8 KiB). For tests only: it protects a weak passphrase poorly.
    public static var minimum: KeyringKDFParameters {
        KeyringKDFParameters(unchecked: KeyringSodium.opsLimitMin, KeyringSodium.memLimitMin)
    }

    /// `argon2id(ops=N, mem=M)`.
    public var description: String { "argon2id(ops=\(opsLimit), mem=\(memLimit))" }
}

/// How the key-encryption key of a file is obtained.
enum KeyringKEKHeader: Sendable, Hashable {
    case argon2id(KeyringKDFParameters, salt: [UInt8])
    case keyFile
}

/// The unlocked key material of one keyring file: the master KEK and its sub-keys.
struct KeyringUnlockedKEK: Sendable {
    let header: KeyringKEKHeader
    let checkKey: SecureBytes
    let macKey: SecureBytes
    let secretKey: SecureBytes

    static let checkLabel = Array("mqtt-seal-keyring/1 check".utf8)

    init(header: KeyringKEKHeader, master: SecureBytes) {
        self.header = header
        checkKey = KeyringSodium.subkey(master, id: 1)
        macKey = KeyringSodium.subkey(master, id: 2)
        secretKey = KeyringSodium.subkey(master, id: 3)
    }

    /// Derives the KEK for `header` from the credential.
    static func unlock(
        header: KeyringKEKHeader, credential: KeyringCredential
    ) throws(KeyringError) -> KeyringUnlockedKEK {
        switch (header, credential.kind) {
        case (.argon2id(let parameters, let salt), .passphrase):
            let master = try KeyringSodium.deriveKEK(
                passphrase: credential.secret, salt: salt, opsLimit: parameters.opsLimit,
                memLimit: parameters.memLimit)
            return KeyringUnlockedKEK(header: header, master: master)
        case (.keyFile, .keyEncryptionKey):
            return KeyringUnlockedKEK(header: header, master: credential.secret)
        case (.argon2id, .keyEncryptionKey):
            throw KeyringError(
                .wrongCredential, "this keyring is protected by a passphrase, not a key-encryption-key file")
        case (.keyFile, .passphrase):
            throw KeyringError(
                .wrongCredential, "this keyring is protected by a key-encryption-key file, not a passphrase")
        }
    }

    /// A fresh header (new random salt for passphrases) and its unlocked KEK.
    static func create(
        credential: KeyringCredential, kdf: KeyringKDFParameters
    ) throws(KeyringError) -> KeyringUnlockedKEK {
        switch credential.kind {
        case .passphrase:
            return try unlock(
                header: .argon2id(kdf, salt: KeyringSodium.randomBytes(KeyringSodium.saltBytes)),
                credential: credential)
        case .keyEncryptionKey:
            return try unlock(header: .keyFile, credential: credential)
        }
    }

    var checkValue: [UInt8] { KeyringSodium.hash(Self.checkLabel, key: checkKey) }
}

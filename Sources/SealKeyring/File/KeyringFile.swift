/// A keyring file on disk: create, load, and serialised read-modify-write.
///
/// Every write holds an exclusive `flock` on `<path>.lock` across the whole read-modify-write and replaces the
/// file atomically (temporary file, fsync, rename, fsync of the directory), mode 0600. A file whose mode has group
/// or other bits is refused. A file that fails to load (corrupt, wrong credential, unknown version) is never
/// written.
public struct KeyringFile: Sendable {
    /// The path of the keyring file.
    public let path: String
    /// How long a writer waits for the lock before failing with `locked`.
    public let lockTimeout: Duration

    /// A handle for the keyring at `path`. Nothing is read or created yet.
    public init(path: String, lockTimeout: Duration = .seconds(10)) {
        self.path = path
        self.lockTimeout = lockTimeout
    }

    /// Writes a new keyring file (generation 1). Refuses to replace an existing file.
    ///
    /// - Parameters:
    ///   - keyring: the initial content (default: empty).
    ///   - credential: a passphrase (stretched with `kdf`) or a key-encryption key.
    ///   - kdf: Argon2id cost for a passphrase; ignored for a key-encryption key.
    /// - Throws: ``KeyringError``: `alreadyExists`, `locked`, `io`.
    public func create(
        _ keyring: Keyring = Keyring(), credential: KeyringCredential, kdf: KeyringKDFParameters = .interactive
    ) throws(KeyringError) {
        try keyring.validate()
        let kek = try KeyringUnlockedKEK.create(credential: credential, kdf: kdf)
        try KeyringIO.withLock(path: path, timeout: lockTimeout) { () throws(KeyringError) in
            if try KeyringIO.stamp(path: path) != nil {
                throw KeyringError(.alreadyExists, "keyring \(path) already exists")
            }
            var first = keyring
            first.generation = 1
            try KeyringIO.atomicWrite(path: path, bytes: KeyringCodec.encode(first, kek: kek), exclusive: true)
        }
    }

    /// Reads, verifies and decrypts the keyring.
    ///
    /// - Throws: ``KeyringError``: `notFound`, `permissions`, `corrupt`, `unsupportedVersion`, `wrongCredential`,
    ///   `io`.
    public func load(credential: KeyringCredential) throws(KeyringError) -> Keyring {
        try loadDecoded(credential: credential, cached: nil).decoded.keyring
    }

    func loadDecoded(
        credential: KeyringCredential, cached: KeyringUnlockedKEK?
    ) throws(KeyringError) -> (decoded: KeyringCodec.Decoded, stamp: KeyringFileStamp) {
        let (bytes, stamp) = try KeyringIO.readSecretFile(path: path, what: "keyring")
        return (try KeyringCodec.decode(bytes, credential: credential, cached: cached), stamp)
    }

    /// Read-modify-write under the file lock: loads the keyring, runs `body` on it, and when `body` returns
    /// normally writes the result atomically with the generation incremented. When loading or `body` throws,
    /// nothing is written.
    ///
    /// - Returns: what `body` returns.
    /// - Throws: any error of ``load(credential:)``, `locked`, `io`, or what `body` throws.
    @discardableResult
    public func update<Result>(
        credential: KeyringCredential, _ body: (inout Keyring) throws(KeyringError) -> Result
    ) throws(KeyringError) -> Result {
        try KeyringIO.withLock(path: path, timeout: lockTimeout) { () throws(KeyringError) -> Result in
            let (decoded, _) = try loadDecoded(credential: credential, cached: nil)
            var keyring = decoded.keyring
            let result = try body(&keyring)
            try keyring.validate()
            keyring.generation = decoded.keyring.generation &+ 1
            try KeyringIO.atomicWrite(path: path, bytes: KeyringCodec.encode(keyring, kek: decoded.kek))
            return result
        }
    }

    /// Re-encrypts the keyring under a new credential (a new passphrase with a fresh salt, or a key-encryption key).
    ///
    /// - Throws: any error of ``update(credential:_:)``.
    public func changeCredential(
        from old: KeyringCredential, to new: KeyringCredential, kdf: KeyringKDFParameters = .interactive
    ) throws(KeyringError) {
        let kek = try KeyringUnlockedKEK.create(credential: new, kdf: kdf)
        try KeyringIO.withLock(path: path, timeout: lockTimeout) { () throws(KeyringError) in
            let (decoded, _) = try loadDecoded(credential: old, cached: nil)
            var keyring = decoded.keyring
            keyring.generation = keyring.generation &+ 1
            try KeyringIO.atomicWrite(path: path, bytes: KeyringCodec.encode(keyring, kek: kek))
        }
    }
}

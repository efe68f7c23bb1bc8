import Seal
public import SealKeyring

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The authority's files: its keyring (the authority identity and every group key) and the registry beside it.
/// ``lock(timeout:)`` serialises fleet commands, so two operators cannot interleave a rotation.
public struct FleetStore: Sendable {
    /// The authority keyring file.
    public let keyring: KeyringFile
    /// What unlocks it.
    public let credential: KeyringCredential
    /// The registry file (`<keyring>.fleet`).
    public let registry: FleetRegistryFile

    /// The store of the authority keyring at `path`.
    public init(path: String, credential: KeyringCredential) {
        self.keyring = KeyringFile(path: path)
        self.credential = credential
        self.registry = FleetRegistryFile(keyringPath: path)
    }

    /// Creates the authority keyring with a fresh authority identity, and an empty registry.
    ///
    /// - Returns: the authority's public key (devices pin it).
    /// - Throws: ``FleetError`` (`alreadyExists`, `keyring`).
    public func create(topics: FleetTopics, kdf: KeyringKDFParameters = .interactive) throws(FleetError) -> [UInt8] {
        guard !registry.exists else { throw FleetError(.alreadyExists, "fleet registry \(registry.path) exists") }
        var keyring = Keyring()
        do throws(KeyringError) {
            try keyring.newSigningIdentity(name: FleetAuthority.identityName)
            try self.keyring.create(keyring, credential: credential, kdf: kdf)
        } catch {
            throw FleetError(keyring: error)
        }
        let identity = keyring.identity(named: FleetAuthority.identityName)!
        try registry.save(FleetRegistry(topics: topics), authority: identity.signingKey, exclusive: true)
        return identity.publicKey
    }

    /// Loads the keyring and the registry (verified against the authority key).
    public func load() throws(FleetError) -> FleetAuthority {
        let loaded: Keyring
        do {
            loaded = try keyring.load(credential: credential)
        } catch {
            throw FleetError(keyring: error)
        }
        guard let identity = loaded.identity(named: FleetAuthority.identityName) else {
            throw FleetError(.notDevice, "\(keyring.path) is not a fleet authority keyring; create one with fleet init")
        }
        let registry = try self.registry.load(authority: identity.signingKey.verifyingKey)
        return try FleetAuthority(keyring: loaded, registry: registry)
    }

    /// Writes both files: the keyring first (new keys must exist before a registry that refers to them), each
    /// replaced atomically.
    public func save(_ authority: FleetAuthority) throws(FleetError) {
        do {
            try keyring.update(credential: credential) { (current: inout Keyring) throws(KeyringError) in
                current = authority.keyring
            }
        } catch {
            throw FleetError(keyring: error)
        }
        try registry.save(authority.registry, authority: authority.identity.signingKey)
    }

    /// Takes the fleet lock (`<keyring>.fleet.lock`, an exclusive `flock`) for the length of a command, across
    /// its network waits: two operators cannot interleave a rotation. Released by ``FleetLock/release()`` or
    /// when the process ends.
    ///
    /// - Throws: ``FleetError`` (`alreadyExists` is never thrown; `keyring` with `locked` after `timeout`).
    public func lock(timeout: Duration = .seconds(10)) throws(FleetError) -> FleetLock {
        try FleetLock(path: registry.path + ".lock", timeout: timeout)
    }
}

/// An exclusive advisory lock held by a fleet command.
public final class FleetLock: Sendable {
    private let fd: Int32

    init(path: String, timeout: Duration) throws(FleetError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw FleetError(keyring: KeyringError(.io, "cannot open the fleet lock \(path)"))
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, clock.now < deadline else {
                close(fd)
                throw FleetError(
                    keyring: KeyringError(.locked, "the fleet is locked by another fleet command; try again"))
            }
            usleep(10_000)
        }
        self.fd = fd
    }

    /// Releases the lock.
    public func release() { flock(fd, LOCK_UN) }

    deinit { close(fd) }
}

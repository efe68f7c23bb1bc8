import Testing

@testable import Seal
@testable import SealKeyring

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A temporary directory removed at the end of the test.
final class KeyringTempDir {
    let path: String

    init() {
        var template = Array("/tmp/keyring-test-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    func file(_ name: String) -> String { path + "/" + name }

    func entries() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = KeyringIO.entryName(UnsafeRawPointer(entry))
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    deinit {
        for name in entries() { unlink(file(name)) }
        rmdir(path)
    }
}

enum KeyringTestIO {
    static func readAll(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        precondition(fd >= 0, "open \(path)")
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            precondition(count >= 0)
            if count == 0 { break }
            out += chunk[0..<count]
        }
        return out
    }

    /// Replaces a file the way an editor might: a new file written then renamed (new inode), mode `mode`.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) {
        let temporary = path + ".test-tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode)
        precondition(fd >= 0)
        fchmod(fd, mode)
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            precondition(count > 0)
            offset += count
        }
        close(fd)
        precondition(rename(temporary, path) == 0)
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        precondition(stat(path, &info) == 0)
        return info.st_mode & 0o7777
    }

    static func setMode(_ path: String, _ mode: mode_t) {
        precondition(chmod(path, mode) == 0)
    }
}

enum KeyringFixtures {
    static let kdf = KeyringKDFParameters.minimum

    static func passphrase(_ text: String = "correct horse battery staple") -> KeyringCredential {
        try! KeyringCredential.passphrase(text)
    }

    /// A keyring with one key per state, a signer and an identity.
    static func populated() throws -> (Keyring, [KeyState: UInt32]) {
        var keyring = Keyring()
        var ids: [KeyState: UInt32] = [:]
        let scope = try TopicScope(parsing: ["sensors/#"])
        ids[.pending] = try keyring.addKey(scope: scope)
        let primary = try keyring.addKey(suite: .aes256gcm, scope: scope)
        try keyring.promote(primary)
        ids[.primary] = primary
        let retired = try keyring.addKey(suite: .hmacSHA256, scope: try TopicScope(parsing: ["b/+", "a/#"]))
        try keyring.promote(retired)
        try keyring.retire(retired)
        ids[.decryptOnly] = retired
        let disabled = try keyring.addKey()
        try keyring.disable(disabled)
        ids[.disabled] = disabled
        let destroyed = try keyring.addKey(notAfter: KeyringTime.parse("2999-01-01T00:00:00Z"))
        try keyring.disable(destroyed)
        try keyring.destroy(destroyed)
        ids[.destroyed] = destroyed
        var peer = Keyring()
        try peer.newSigningIdentity(scope: try TopicScope(parsing: ["peer/#"]))
        try keyring.importSigner(peer.exportVerifiers()[0])
        try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["me/#"]))
        return (keyring, ids)
    }

    static func seedBytes(_ identity: KeyringIdentity) -> [UInt8] {
        identity.signingKey.withUnsafeSeedBytes { Array($0) }
    }

    static func secretBytes(_ key: KeyringKey) -> [UInt8]? {
        key.sealKey?.withUnsafeSecretBytes { Array($0) }
    }
}

/// A keyring with two primaries whose filters differ only in the spelling of "café": NFC (`é` as one code point)
/// and NFD (`e` + combining acute), which Swift's `String ==` equates and MQTT does not.
func twoSpellingsKeyring() throws -> (keyring: Keyring, nfc: UInt32, nfd: UInt32) {
    var keyring = Keyring()
    let nfc = try keyring.addKey(scope: try TopicScope(parsing: ["caf\u{00E9}/#"]))
    try keyring.promote(nfc)
    let nfd = try keyring.addKey(scope: try TopicScope(parsing: ["cafe\u{0301}/#"]))
    try keyring.promote(nfd)
    return (keyring, nfc, nfd)
}

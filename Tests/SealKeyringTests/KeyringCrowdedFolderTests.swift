import Testing

@testable import Seal
@testable import SealKeyring

#if canImport(Glibc)
import Glibc
#endif

/// A keyring writer scans its folder for stale temporary files. A fleet gateway keeps hundreds of device keyrings
/// in one folder; the scan crashed there (it copied whole `struct dirent`s, reading past the end of the last record
/// of a buffer). The crash needs that record to end at an unmapped page, which this test cannot arrange: it was
/// seen in the release `fleet bench` and does not reproduce here deterministically. The test keeps a crowded
/// folder with names of every length under every write, as a regression exercise.
@Suite struct KeyringCrowdedFolderTests {
    @Test func writesInAFolderOfThousandsOfFilesWithNamesOfEveryLength() throws {
        let folder = KeyringTempDir()
        for index in 0..<3_000 {
            let name = String(repeating: "n", count: 1 + index % 200) + "-\(index)"
            let fd = open(folder.file(name), O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            try #require(fd >= 0)
            close(fd)
        }
        let credential = try KeyringCredential.generateKeyEncryptionKeyFile(folder.file("kek"))
        let file = KeyringFile(path: folder.file("crowded.keyring"))
        try file.create(Keyring(), credential: credential)
        for _ in 0..<20 {
            try file.update(credential: credential) { (keyring: inout Keyring) throws(KeyringError) in
                _ = try keyring.addKey()
            }
        }
        #expect(try file.load(credential: credential).keys.count == 20)
        #expect(folder.entries().count == 3_000 + 3)  // the files, the kek, the keyring, its lock
    }
}

import Synchronization
import Testing

@testable import Seal
@testable import SealKeyring

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct KeyringFileTests {
    let dir = KeyringTempDir()
    var path: String { dir.file("keyring.json") }
    let credential = KeyringFixtures.passphrase()

    func created() throws -> (KeyringFile, Keyring, [KeyState: UInt32]) {
        let (keyring, ids) = try KeyringFixtures.populated()
        let file = KeyringFile(path: path)
        try file.create(keyring, credential: credential, kdf: KeyringFixtures.kdf)
        return (file, keyring, ids)
    }

    @Test func roundTripKeepsMetadataAndSecrets() throws {
        let (file, original, _) = try created()
        let loaded = try file.load(credential: credential)
        #expect(loaded.generation == 1)
        #expect(loaded.keys.count == original.keys.count)
        for (a, b) in zip(original.keys, loaded.keys) {
            #expect(a.kid == b.kid && a.suite == b.suite && a.state == b.state && a.scope == b.scope)
            #expect(a.createdSeconds == b.createdSeconds && a.notAfterSeconds == b.notAfterSeconds)
            #expect(KeyringFixtures.secretBytes(a) == KeyringFixtures.secretBytes(b))
        }
        #expect(loaded.signers == original.signers)
        #expect(loaded.identities.map(\.sid) == original.identities.map(\.sid))
        #expect(loaded.identities.map(\.publicKey) == original.identities.map(\.publicKey))
        #expect(KeyringFixtures.seedBytes(loaded.identities[0]) == KeyringFixtures.seedBytes(original.identities[0]))
    }

    @Test func fileIsReadableJSONWithoutClearSecretsAndMode0600() throws {
        let (_, original, ids) = try created()
        #expect(KeyringTestIO.mode(path) == 0o600)
        let text = String(decoding: KeyringTestIO.readAll(path), as: UTF8.self)
        #expect(text.contains("\"format\": \"mqtt-seal-keyring\""))
        #expect(text.contains("\"version\": 1"))
        #expect(text.contains(KeyringID.format(ids[.primary]!)))
        #expect(text.contains("\"decrypt-only\""))
        #expect(text.contains("sensors/#"))
        for key in original.keys {
            guard let secret = KeyringFixtures.secretBytes(key) else { continue }
            #expect(!text.contains(KeyringCodec.base64(secret)))
            #expect(KeyringTestIO.readAll(path).firstRange(of: secret) == nil)
        }
    }

    @Test func createRefusesAnExistingFile() throws {
        let (file, _, _) = try created()
        let before = KeyringTestIO.readAll(path)
        #expect {
            try file.create(Keyring(), credential: credential, kdf: KeyringFixtures.kdf)
        } throws: { ($0 as! KeyringError).code == .alreadyExists }
        #expect(KeyringTestIO.readAll(path) == before)
    }

    @Test func missingFileIsNotFound() {
        #expect {
            try KeyringFile(path: dir.file("nope.json")).load(credential: credential)
        } throws: { ($0 as! KeyringError).code == .notFound }
    }

    @Test(arguments: [0o640, 0o604, 0o660, 0o644, 0o606] as [mode_t])
    func groupOrWorldAccessibleFileIsRefused(mode: mode_t) throws {
        let (file, _, _) = try created()
        KeyringTestIO.setMode(path, mode)
        let before = KeyringTestIO.readAll(path)
        #expect {
            try file.load(credential: credential)
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .permissions && error.message.contains("chmod 600")
        }
        #expect {
            try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        } throws: { ($0 as! KeyringError).code == .permissions }
        #expect(KeyringTestIO.readAll(path) == before)
        #expect(KeyringTestIO.mode(path) == mode)
    }

    @Test func wrongPassphraseIsRefusedAndNothingIsWritten() throws {
        let (file, _, _) = try created()
        let before = KeyringTestIO.readAll(path)
        let wrong = KeyringFixtures.passphrase("Correct horse battery staple")
        #expect { try file.load(credential: wrong) } throws: { ($0 as! KeyringError).code == .wrongCredential }
        #expect {
            try file.update(credential: wrong) { keyring throws(KeyringError) in try keyring.addKey() }
        } throws: { ($0 as! KeyringError).code == .wrongCredential }
        #expect(KeyringTestIO.readAll(path) == before)
    }

    @Test(arguments: [1, 10, 100, 0.5, 0.9, 0.99] as [Double])
    func truncatedFileIsCorruptAndNeverOverwritten(fraction: Double) throws {
        let (file, _, _) = try created()
        let full = KeyringTestIO.readAll(path)
        let length = fraction >= 1 ? Int(fraction) : Int(Double(full.count) * fraction)
        let truncated = Array(full[0..<length])
        KeyringTestIO.replace(path, with: truncated)
        #expect { try file.load(credential: credential) } throws: { error in
            let error = error as! KeyringError
            return error.code == .corrupt && !error.message.contains("\n")
        }
        #expect {
            try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        } throws: { ($0 as! KeyringError).code == .corrupt }
        #expect(KeyringTestIO.readAll(path) == truncated)
    }

    @Test func emptyFileIsCorrupt() throws {
        KeyringTestIO.replace(path, with: [])
        #expect {
            try KeyringFile(path: path).load(credential: credential)
        } throws: { ($0 as! KeyringError).code == .corrupt }
    }

    /// Every single-bit flip at every byte of the file is detected, before or after the passphrase is applied,
    /// and reported as corrupt (or as an unsupported version when it hits the version digit).
    @Test func everyFlippedByteIsDetected() throws {
        let (file, _, _) = try created()
        let full = KeyringTestIO.readAll(path)
        var undetected: [Int] = []
        var wrongCode: [Int: KeyringError.Code] = [:]
        for index in full.indices {
            for bit in 0..<8 as Range<UInt8> {
                var damaged = full
                damaged[index] ^= 1 << bit
                do {
                    _ = try KeyringCodec.decode(damaged, credential: credential)
                    undetected.append(index)
                } catch {
                    if error.code != .corrupt && error.code != .unsupportedVersion { wrongCode[index] = error.code }
                }
            }
        }
        #expect(undetected.isEmpty, "flips at \(undetected) were not detected")
        #expect(wrongCode.isEmpty, "flips reported with other codes: \(wrongCode)")
        // And the file-level path: one flip in a secret, file untouched by a failed update.
        var damaged = full
        let offset = full.firstRange(of: Array("\"secret\": \"".utf8))!.upperBound
        damaged[offset + 3] = damaged[offset + 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        KeyringTestIO.replace(path, with: damaged)
        #expect {
            try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        } throws: { ($0 as! KeyringError).code == .corrupt }
        #expect(KeyringTestIO.readAll(path) == damaged)
    }

    @Test(arguments: ["\"version\": 2", "\"version\": 0", "\"version\": 100"])
    func unknownVersionIsRefused(replacement: String) throws {
        let (file, _, _) = try created()
        let text = String(decoding: KeyringTestIO.readAll(path), as: UTF8.self)
        let changed = Array(text.replacing("\"version\": 1", with: replacement).utf8)
        KeyringTestIO.replace(path, with: changed)
        #expect { try file.load(credential: credential) } throws: { error in
            let error = error as! KeyringError
            return error.code == .unsupportedVersion && error.message.contains("version")
        }
        #expect {
            try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        } throws: { ($0 as! KeyringError).code == .unsupportedVersion }
        #expect(KeyringTestIO.readAll(path) == changed)
    }

    @Test func notAKeyringIsCorrupt() throws {
        for content in ["{}", "[]", "null", "{\"format\": \"other\", \"version\": 1}", "\u{FEFF}{"] {
            KeyringTestIO.replace(path, with: Array(content.utf8))
            #expect {
                try KeyringFile(path: path).load(credential: credential)
            } throws: { ($0 as! KeyringError).code == .corrupt }
        }
    }

    /// Someone who can write the file but has no key changes metadata and recomputes the unkeyed checksum: the
    /// MAC catches it, and it is reported as corrupt, not as a wrong passphrase.
    @Test func tamperingWithRecomputedChecksumFailsTheMAC() throws {
        let (_, _, ids) = try created()
        var model = try KeyringCodec.parse(KeyringTestIO.readAll(path))
        let index = model.keys.firstIndex { $0.kid == ids[.disabled]! }!
        model.keys[index].state = .decryptOnly  // re-enable a disabled key without the passphrase
        model.checksum = KeyringSodium.hash(KeyringCodec.canonicalBytes(model) + model.mac)
        let forged = Array(KeyringCodec.render(model).utf8)
        #expect {
            try KeyringCodec.decode(forged, credential: credential)
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .corrupt && error.message.contains("MAC")
        }
    }

    /// Moving a secret to another entry (with a valid MAC, i.e. by a key holder) still fails: metadata is AAD.
    @Test func secretsAreBoundToTheirMetadata() throws {
        let (_, _, ids) = try created()
        let bytes = KeyringTestIO.readAll(path)
        let decoded = try KeyringCodec.decode(bytes, credential: credential)
        var model = try KeyringCodec.parse(bytes)
        let a = model.keys.firstIndex { $0.kid == ids[.pending]! }!
        let b = model.keys.firstIndex { $0.kid == ids[.primary]! }!
        (model.keys[a].secret, model.keys[b].secret) = (model.keys[b].secret, model.keys[a].secret)
        let canonical = KeyringCodec.canonicalBytes(model)
        model.mac = KeyringSodium.hash(canonical, key: decoded.kek.macKey)
        model.checksum = KeyringSodium.hash(canonical + model.mac)
        #expect {
            try KeyringCodec.decode(Array(KeyringCodec.render(model).utf8), credential: credential)
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .corrupt && error.message.contains("does not decrypt")
        }
    }

    @Test func updateWritesAtomicallyBumpsGenerationAndLeavesNoTemporaryFiles() throws {
        let (file, _, _) = try created()
        let kid = try file.update(credential: credential) { keyring throws(KeyringError) in
            try keyring.addKey(scope: TopicScope(parsing: ["new/#"]))
        }
        let loaded = try file.load(credential: credential)
        #expect(loaded.generation == 2)
        #expect(loaded.key(kid)?.state == .pending)
        #expect(KeyringTestIO.mode(path) == 0o600)
        #expect(dir.entries() == ["keyring.json", "keyring.json.lock"])
    }

    @Test func failingBodyWritesNothing() throws {
        let (file, _, ids) = try created()
        let before = KeyringTestIO.readAll(path)
        #expect {
            try file.update(credential: credential) { keyring throws(KeyringError) in
                try keyring.addKey()
                try keyring.destroy(ids[.primary]!)  // invalid: primary -> destroyed
            }
        } throws: { ($0 as! KeyringError).code == .invalidTransition }
        #expect(KeyringTestIO.readAll(path) == before)
    }

    @Test func changingThePassphraseReencrypts() throws {
        let (file, original, _) = try created()
        let new = KeyringFixtures.passphrase("a new passphrase")
        try file.changeCredential(from: credential, to: new, kdf: KeyringFixtures.kdf)
        #expect { try file.load(credential: credential) } throws: { ($0 as! KeyringError).code == .wrongCredential }
        let loaded = try file.load(credential: new)
        #expect(loaded.generation == 2)
        #expect(loaded.keys.map(KeyringFixtures.secretBytes) == original.keys.map(KeyringFixtures.secretBytes))
        #expect(KeyringTestIO.mode(path) == 0o600)
    }

    @Test func keyEncryptionKeyFile() throws {
        let kekPath = dir.file("kek")
        let kek = try KeyringCredential.generateKeyEncryptionKeyFile(kekPath)
        #expect(KeyringTestIO.mode(kekPath) == 0o600)
        #expect {
            try KeyringCredential.generateKeyEncryptionKeyFile(kekPath)
        } throws: { ($0 as! KeyringError).code == .alreadyExists }
        let (keyring, _) = try KeyringFixtures.populated()
        let file = KeyringFile(path: path)
        try file.create(keyring, credential: kek)
        let reread = try KeyringCredential.keyEncryptionKeyFile(kekPath)
        #expect(try file.load(credential: reread).keys.count == keyring.keys.count)
        #expect { try file.load(credential: credential) } throws: { error in
            let error = error as! KeyringError
            return error.code == .wrongCredential && error.message.contains("key-encryption-key file")
        }
        let other = try KeyringCredential.generateKeyEncryptionKeyFile(dir.file("kek2"))
        #expect { try file.load(credential: other) } throws: { ($0 as! KeyringError).code == .wrongCredential }
        // A passphrase keyring refuses a key file.
        let passphraseFile = KeyringFile(path: dir.file("p.json"))
        try passphraseFile.create(credential: credential, kdf: KeyringFixtures.kdf)
        #expect { try passphraseFile.load(credential: kek) } throws: { ($0 as! KeyringError).code == .wrongCredential }
    }

    @Test func malformedKeyEncryptionKeyFiles() throws {
        let kekPath = dir.file("kek")
        for content in [
            [UInt8](repeating: 1, count: 31), [UInt8](repeating: 1, count: 33), Array("zz".utf8),
            Array(String(repeating: "g", count: 64).utf8), [],
        ] {
            KeyringTestIO.replace(kekPath, with: content)
            #expect {
                try KeyringCredential.keyEncryptionKeyFile(kekPath)
            } throws: { ($0 as! KeyringError).code == .invalidArgument }
        }
        KeyringTestIO.replace(kekPath, with: [UInt8](repeating: 7, count: 32), mode: 0o644)
        #expect {
            try KeyringCredential.keyEncryptionKeyFile(kekPath)
        } throws: { ($0 as! KeyringError).code == .permissions }
        KeyringTestIO.setMode(kekPath, 0o600)
        #expect(throws: Never.self) { try KeyringCredential.keyEncryptionKeyFile(kekPath) }
    }

    @Test func passphraseSources() throws {
        let passphrasePath = dir.file("pass")
        KeyringTestIO.replace(passphrasePath, with: Array("correct horse battery staple\n".utf8))
        let file = KeyringFile(path: path)
        try file.create(credential: credential, kdf: KeyringFixtures.kdf)
        let fromFile = try KeyringCredential.resolve(passphraseFile: passphrasePath)
        #expect(throws: Never.self) { try file.load(credential: fromFile) }
        let fromEnvironment = try KeyringCredential.resolve(
            environment: [KeyringCredential.environmentVariable: "correct horse battery staple"])
        #expect(throws: Never.self) { try file.load(credential: fromEnvironment) }
        #expect {
            try KeyringCredential.resolve(environment: [:])
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .invalidArgument && error.message.contains(KeyringCredential.environmentVariable)
        }
        KeyringTestIO.setMode(passphrasePath, 0o640)
        #expect {
            try KeyringCredential.passphraseFile(passphrasePath)
        } throws: { ($0 as! KeyringError).code == .permissions }
        KeyringTestIO.replace(passphrasePath, with: Array("\n".utf8))
        #expect {
            try KeyringCredential.passphraseFile(passphrasePath)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
        #expect { try KeyringCredential.passphrase("") } throws: { ($0 as! KeyringError).code == .invalidArgument }
    }

    @Test func kdfParametersAreBounded() throws {
        #expect {
            try KeyringKDFParameters(opsLimit: 0, memLimit: 65_536)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
        #expect {
            try KeyringKDFParameters(opsLimit: 2, memLimit: KeyringKDFParameters.maximumMemLimit + 1)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
        // A file asking for absurd memory is refused before any derivation.
        let (_, _, _) = try created()
        let text = String(decoding: KeyringTestIO.readAll(path), as: UTF8.self)
        let greedy = text.replacing("\"memlimit\": 8192", with: "\"memlimit\": 1099511627776")
        #expect(greedy != text)
        #expect {
            try KeyringCodec.decode(Array(greedy.utf8), credential: credential)
        } throws: { ($0 as! KeyringError).code == .corrupt }
    }

    /// Several threads run read-modify-write concurrently; the lock serialises them so no update is lost.
    @Test func concurrentWritersAreSerialisedByTheLock() throws {
        let file = KeyringFile(path: path)
        try file.create(credential: credential, kdf: KeyringFixtures.kdf)
        let writers = 4
        let updatesPerWriter = 5
        let credential = credential
        let results = KeyringResults()
        KeyringThreads.run(count: writers) { _ in
            for _ in 0..<updatesPerWriter {
                do throws(KeyringError) {
                    let kid = try KeyringFile(path: file.path).update(credential: credential) {
                        keyring throws(KeyringError) in try keyring.addKey()
                    }
                    results.append(kid)
                } catch {
                    results.fail(error)
                }
            }
        }
        #expect(results.errors.isEmpty)
        let loaded = try file.load(credential: credential)
        #expect(loaded.keys.count == writers * updatesPerWriter)
        #expect(Set(loaded.keys.map(\.kid)) == Set(results.kids))
        #expect(loaded.generation == UInt64(1 + writers * updatesPerWriter))
    }

    @Test func heldLockMakesWritersFailWithLocked() throws {
        let file = KeyringFile(path: path, lockTimeout: .milliseconds(200))
        try file.create(credential: credential, kdf: KeyringFixtures.kdf)
        let before = KeyringTestIO.readAll(path)
        let fd = open(path + ".lock", O_RDWR)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        #expect {
            try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        } throws: { ($0 as! KeyringError).code == .locked }
        #expect(KeyringTestIO.readAll(path) == before)
        flock(fd, LOCK_UN)
        #expect(throws: Never.self) {
            try file.update(credential: credential) { keyring throws(KeyringError) in try keyring.addKey() }
        }
    }
}

final class KeyringResults: Sendable {
    private let state = Mutex<([UInt32], [KeyringError])>(([], []))
    init() {}
    func append(_ kid: UInt32) { state.withLock { $0.0.append(kid) } }
    func fail(_ error: KeyringError) { state.withLock { $0.1.append(error) } }
    var kids: [UInt32] { state.withLock { $0.0 } }
    var errors: [KeyringError] { state.withLock { $0.1 } }
}

/// Runs `body` on `count` fresh OS threads at once and joins them (real parallel `flock` contention).
enum KeyringThreads {
    final class Work: @unchecked Sendable {
        let index: Int
        let body: @Sendable (Int) -> Void
        init(index: Int, body: @escaping @Sendable (Int) -> Void) {
            self.index = index
            self.body = body
        }
    }

    static func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        var threads: [pthread_t] = []
        for index in 0..<count {
            var thread = pthread_t()
            let work = Unmanaged.passRetained(Work(index: index, body: body)).toOpaque()
            let rc = pthread_create(
                &thread, nil,
                { raw in
                    let work = Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
                    work.body(work.index)
                    return nil
                }, work)
            precondition(rc == 0, "pthread_create failed")
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
    }
}

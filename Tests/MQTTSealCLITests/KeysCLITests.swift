import Foundation
import Seal
import SealKeyring
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mqtt-seal keys ...`: every lifecycle transition and refusal, file safety, the lock, and the exit codes.
@Suite("mqtt-seal keys")
struct KeysCLITests {
    @Test func initCreatesAPrivateKeyringAndTheKEKFileAndRefusesToOverwrite() throws {
        let workspace = try KeyringWorkspace()
        var info = stat()
        #expect(stat(workspace.keyring, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(stat(workspace.kek, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let before = try workspace.bytes()

        let again = try workspace.keys(["init"])
        #expect(again.status == 65)
        #expect(again.err == "mqtt-seal: keyring \(workspace.keyring) already exists\n")
        #expect(try workspace.bytes() == before)
        #expect(try workspace.load().keys.isEmpty)
        // With a new key-encryption-key file named, nothing is created either.
        let otherKEK = workspace.path("other.kek")
        let refused = try CLIRunner.run(["keys", "init", "--keyring", workspace.keyring, "--kek-file", otherKEK])
        #expect(refused.status == 65)
        #expect(!FileManager.default.fileExists(atPath: otherKEK))
    }

    /// `keys init` makes a keyring that seals at once (one primary on `#`), and `rotate` then works.
    @Test func initMakesAReadyKeyringThatSealsAndRotates() throws {
        let workspace = try KeyringWorkspace(initialise: false)
        let created = try CLIRunner.run(["keys", "init"] + workspace.flags)
        #expect(created.status == 0, "\(created.err)")
        let kid = try KeyringWorkspace.printedID(created)
        #expect(created.err.hasSuffix("added key \(kid) (xchacha20poly1305, primary, topics [#])\n"))
        let keyring = try workspace.load()
        #expect(keyring.keys.count == 1)
        #expect(keyring.primary(of: .all)?.kid == (try KeyringID.parse(kid)))

        let sealed = try workspace.run(["seal", "-t", "plant/7/temp"], stdin: Data("21.5".utf8))
        #expect(sealed.status == 0, "\(sealed.err)")
        let opened = try workspace.run(["open", "-t", "plant/7/temp"], stdin: sealed.stdout)
        #expect(opened.status == 0, "\(opened.err)")
        #expect(opened.out == "21.5")

        let rotated = try workspace.keys(["rotate"])
        #expect(rotated.status == 0, "\(rotated.err)")
        #expect(rotated.err.hasSuffix(", \(kid) is decrypt-only\n"))
        // Scripts take the id alone: KID=$(mqtt-seal keys add), then keys promote "$KID".
        let added = try workspace.keys(["add", "--topics", "script/#"])
        let script = try KeyringWorkspace.printedID(added)
        #expect(added.err.hasPrefix("added key \(script) (xchacha20poly1305, pending, topics [script/#])"))
        #expect(try workspace.keys(["promote", script]).status == 0)

        // --empty: no key; --suite names the first key's suite, so it cannot go with --empty.
        let other = try KeyringWorkspace(initialise: false)
        let chosen = try CLIRunner.run(["keys", "init", "--suite", "aes256gcm"] + other.flags)
        #expect(chosen.status == 0, "\(chosen.err)")
        #expect(try other.load().keys.map(\.suite) == [.aes256gcm])
        let third = try KeyringWorkspace(initialise: false)
        let conflicting = try CLIRunner.run(["keys", "init", "--empty", "--suite", "aes256gcm"] + third.flags)
        #expect(conflicting.status == 64)
        #expect(!FileManager.default.fileExists(atPath: third.keyring))
        let badSuite = try CLIRunner.run(["keys", "init", "--suite", "ed25519"] + third.flags)
        #expect(badSuite.status == 65 || badSuite.status == 64, "\(badSuite.err)")
        #expect(!FileManager.default.fileExists(atPath: third.keyring))
    }

    @Test func everyLifecycleTransitionThroughTheCLI() throws {
        let workspace = try KeyringWorkspace()
        let first = try workspace.addKey()
        #expect(try workspace.load().key(KeyringID.parse(first))?.state == .pending)

        let promote = try workspace.keys(["promote", first])
        #expect(promote.status == 0)
        #expect(promote.out == "key \(first): pending -> primary\n")

        let second = try workspace.addKey(["--suite", "aes256gcm"])
        let promoteSecond = try workspace.keys(["promote", second])
        #expect(promoteSecond.out == "key \(second): pending -> primary; key \(first): primary -> decrypt-only\n")

        let retire = try workspace.keys(["retire", second])
        #expect(retire.status == 0)
        #expect(retire.out.hasPrefix("key \(second): primary -> decrypt-only; topics [#] have no primary now"))

        #expect(try workspace.keys(["disable", first]).out == "key \(first): decrypt-only -> disabled\n")
        #expect(try workspace.keys(["enable", first]).out == "key \(first): disabled -> decrypt-only\n")
        #expect(try workspace.keys(["promote", first]).out == "key \(first): decrypt-only -> primary\n")
        #expect(try workspace.keys(["disable", second]).out == "key \(second): decrypt-only -> disabled\n")
        #expect(try workspace.keys(["destroy", second]).out == "key \(second): disabled -> destroyed\n")

        let keyring = try workspace.load()
        #expect(keyring.key(try KeyringID.parse(first))?.state == .primary)
        let tombstone = try #require(keyring.key(try KeyringID.parse(second)))
        #expect(tombstone.state == .destroyed)
        #expect(tombstone.sealKey == nil)
        // The tombstone stays listed, so its kid is never reused.
        #expect(try workspace.keys(["list"]).out.contains("\(second)  aes256gcm"))
    }

    @Test func refusedTransitionsNameTheValidOnesAndChangeNothing() throws {
        let workspace = try KeyringWorkspace()
        let primary = try workspace.addPrimary()
        let before = try workspace.bytes()

        let destroy = try workspace.keys(["destroy", primary])
        #expect(destroy.status == 65)
        #expect(
            destroy.err
                == "mqtt-seal: cannot destroy key \(primary): it is primary; destroy applies to disabled keys; from primary valid: decrypt-only\n"
        )
        let disable = try workspace.keys(["disable", primary])
        #expect(disable.status == 65)
        #expect(disable.err.contains("from primary valid: decrypt-only"))
        let enable = try workspace.keys(["enable", primary])
        #expect(enable.status == 65)
        let pending = try workspace.addKey()
        let retirePending = try workspace.keys(["retire", pending])
        #expect(retirePending.status == 65)
        #expect(retirePending.err.contains("retire applies to primary keys; from pending valid: primary, disabled"))
        let afterAdd = try workspace.bytes()
        #expect(afterAdd != before)

        let unknown = try workspace.keys(["promote", "0badc0de"])
        #expect(unknown.status == 65)
        #expect(unknown.err == "mqtt-seal: no key with kid 0badc0de in the keyring\n")
        let malformed = try workspace.keys(["promote", "xyz"])
        #expect(malformed.status == 65)
        #expect(malformed.err.hasPrefix("mqtt-seal: malformed id \"xyz\"; expected 8 hex digits"))
        let zero = try workspace.keys(["retire", "00000000"])
        #expect(zero.status == 65)
        #expect(try workspace.bytes() == afterAdd)
    }

    @Test func rotateAddsAndPromotesPerScope() throws {
        let workspace = try KeyringWorkspace()
        // A scope without a primary gets its first one.
        let fresh = try workspace.keys(["rotate", "--topics", "fresh/#", "--suite", "hmac-sha256"])
        #expect(fresh.status == 0, "\(fresh.err)")
        let first = try KeyringWorkspace.printedID(fresh)
        #expect(fresh.err == "rotated topics [fresh/#]: key \(first) is primary (the scope had none)\n")
        let created = try #require(try workspace.load().key(KeyringID.parse(first)))
        #expect(created.state == .primary && created.suite == .hmacSHA256)

        let old = try workspace.addPrimary(["--suite", "aes256gcm", "--topics", "plant/#"])
        let everywhere = try workspace.addPrimary()
        let rotate = try workspace.keys(["rotate", "--topics", "plant/#"])
        #expect(rotate.status == 0)
        let new = try KeyringWorkspace.printedID(rotate)
        #expect(rotate.err == "rotated topics [plant/#]: key \(new) is primary, \(old) is decrypt-only\n")

        let keyring = try workspace.load()
        let rotated = try #require(keyring.key(try KeyringID.parse(new)))
        #expect(rotated.state == .primary)
        #expect(rotated.suite == .aes256gcm)
        #expect(rotated.scope.description == "[plant/#]")
        #expect(keyring.key(try KeyringID.parse(old))?.state == .decryptOnly)
        #expect(keyring.key(try KeyringID.parse(everywhere))?.state == .primary)
    }

    @Test func addValidatesSuiteTopicsAndDates() throws {
        let workspace = try KeyringWorkspace()
        let before = try workspace.bytes()
        let suite = try workspace.keys(["add", "--suite", "rot13"])
        #expect(suite.status == 64)
        #expect(suite.err.contains("unknown key suite \"rot13\""))
        let ed = try workspace.keys(["add", "--suite", "ed25519"])
        #expect(ed.status == 64)
        let topics = try workspace.keys(["add", "--topics", "a/#/b"])
        #expect(topics.status == 65)
        #expect(topics.err.hasPrefix("mqtt-seal: --topics: "))
        let empty = try workspace.keys(["add", "--topics", "a/#,"])
        #expect(empty.status == 65)
        let date = try workspace.keys(["add", "--not-after", "2027-13-45"])
        #expect(date.status == 65)
        #expect(date.err.contains("use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"))
        let past = try workspace.keys(["add", "--not-after", "2001-01-01"])
        #expect(past.status == 64)
        #expect(past.err.contains("is not in the future"))
        #expect(try workspace.bytes() == before)

        let dated = try workspace.addKey(["--not-after", "2099-06-30", "--topics", "b/+,a/#"])
        let key = try #require(try workspace.load().key(try KeyringID.parse(dated)))
        #expect(KeyringTime.format(try #require(key.notAfter)) == "2099-06-30T00:00:00Z")
        #expect(key.scope.description == "[a/#,b/+]")
    }

    @Test func listPrintsMetadataAndNeverSecrets() throws {
        let workspace = try KeyringWorkspace()
        let kid = try workspace.addPrimary(["--topics", "sensors/#"])
        let pending = try workspace.addKey()
        #expect(try workspace.keys(["new-signer", "sensor-7", "--topics", "sensors/7/#"]).status == 0)

        let table = try workspace.keys(["list"])
        #expect(table.status == 0)
        #expect(table.out.contains("KID       SUITE              STATE"))
        #expect(table.out.contains("\(kid)  xchacha20poly1305  primary"))
        #expect(table.out.contains("sensor-7"))
        #expect(table.out.contains("no trusted signers"))
        #expect(table.out.contains("warning: topics [#] have keys but no primary"))

        let json = try workspace.keys(["list", "--json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let keys = try #require(object["keys"] as? [[String: Any]])
        #expect(keys.map { $0["kid"] as? String } == [kid, pending])
        #expect(keys.first?["state"] as? String == "primary")
        #expect(keys.first?["topics"] as? [String] == ["sensors/#"])
        let identities = try #require(object["identities"] as? [[String: Any]])
        #expect(identities.first?["name"] as? String == "sensor-7")

        // No secret field, and none of the file's sealed secrets, appear in either output.
        #expect(!json.out.contains("secret"))
        let file = try #require(try JSONSerialization.jsonObject(with: workspace.bytes()) as? [String: Any])
        let sealed = ((file["keys"] as? [[String: Any]]) ?? []).compactMap { $0["secret"] as? String }
        #expect(sealed.count == 2)
        for secret in sealed {
            #expect(!json.out.contains(secret.prefix(16)))
            #expect(!table.out.contains(secret.prefix(16)))
        }
    }

    /// A FIFO at the keyring path is refused at once: opening it must not wait for a writer (while `keys add`
    /// holds the lock).
    @Test func aFIFOAtTheKeyringPathIsRefusedWithoutBlocking() throws {
        let workspace = try KeyringWorkspace(initialise: false)
        _ = try KeyringCredential.generateKeyEncryptionKeyFile(workspace.kek)
        #expect(mkfifo(workspace.keyring, 0o600) == 0)
        for command in [["list"], ["add"]] {
            let result = try CLIRunner.run(
                ["keys"] + command + ["--keyring", workspace.keyring, "--kek-file", workspace.kek],
                timeout: .seconds(20))
            #expect(result.status == 77, "keys \(command[0]): \(result.err)")
            #expect(result.err == "mqtt-seal: keyring \(workspace.keyring) is not a regular file\n")
        }
    }

    @Test func missingUnreadableAndWrongCredentials() throws {
        let workspace = try KeyringWorkspace(initialise: false)
        let missing = try workspace.keys(["list"])
        #expect(missing.status == 66)
        #expect(missing.err.hasPrefix("mqtt-seal: "))
        #expect(missing.err.contains(workspace.kek))

        let ready = try KeyringWorkspace()
        _ = try ready.addPrimary()
        let before = try ready.bytes()

        chmod(ready.keyring, 0o644)
        let readable = try ready.keys(["add"])
        #expect(readable.status == 77)
        #expect(readable.err.contains("group or others"), "stderr: \(readable.err)")
        chmod(ready.keyring, 0o600)

        let otherKEK = ready.path("other.kek")
        _ = try KeyringCredential.generateKeyEncryptionKeyFile(otherKEK)
        let wrong = try CLIRunner.run(["keys", "add", "--keyring", ready.keyring, "--kek-file", otherKEK])
        #expect(wrong.status == 77)
        #expect(wrong.err == "mqtt-seal: wrong key-encryption key for this keyring\n")

        let passphrase = try CLIRunner.run(
            ["keys", "add", "--keyring", ready.keyring], environment: ["MQTT_SEAL_PASSPHRASE": "guess"])
        #expect(passphrase.status == 77)
        #expect(try ready.bytes() == before)

        let both = try CLIRunner.run(
            ["keys", "list", "--keyring", ready.keyring, "--kek-file", ready.kek, "--passphrase-file", otherKEK])
        #expect(both.status == 64)
        #expect(both.err.contains("--passphrase-file and --kek-file exclude each other"))
    }

    @Test(arguments: ["truncated", "flipped", "version"])
    func corruptKeyringsAreRefusedAndNeverOverwritten(_ damage: String) throws {
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        var bytes = [UInt8](try workspace.bytes())
        switch damage {
        case "truncated": bytes = Array(bytes.prefix(bytes.count / 2))
        case "flipped": bytes[bytes.count / 3] ^= 0x04
        default:
            let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(
                of: "\"version\": 1", with: "\"version\": 2")
            bytes = Array(text.utf8)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: workspace.keyring))
        chmod(workspace.keyring, 0o600)

        for command in [["add"], ["list"], ["rotate"]] {
            let result = try workspace.keys(command)
            #expect(result.status == 65, "\(command): \(result.err)")
            #expect(result.err.hasPrefix("mqtt-seal: "))
            #expect(result.err.split(separator: "\n").count == 1)
        }
        #expect([UInt8](try workspace.bytes()) == bytes)
        let version = try workspace.keys(["list"])
        if damage == "version" { #expect(version.err.contains("version 2 is not supported")) }
    }

    @Test func passphraseKeyringsAndChangePassphrase() throws {
        let workspace = try KeyringWorkspace(initialise: false)
        let env = ["MQTT_SEAL_PASSPHRASE": "correct horse battery staple"]
        let create = try CLIRunner.run(
            ["keys", "init", "--empty", "--keyring", workspace.keyring, "--kdf", "minimum"], environment: env)
        #expect(create.status == 0, "\(create.err)")
        let add = try CLIRunner.run(["keys", "add", "--keyring", workspace.keyring], environment: env)
        #expect(add.status == 0)

        // Passphrase -> KEK file (created by the command), then the old passphrase no longer opens it.
        let change = try CLIRunner.run(
            ["keys", "change-passphrase", "--keyring", workspace.keyring, "--new-kek-file", workspace.kek],
            environment: env)
        #expect(change.status == 0, "\(change.err)")
        #expect(try workspace.load().keys.count == 1)
        let old = try CLIRunner.run(["keys", "list", "--keyring", workspace.keyring], environment: env)
        #expect(old.status == 77)

        // KEK file -> a passphrase file that is too open is refused; a 0600 one works.
        let passFile = workspace.path("pass")
        try Data("new secret words\n".utf8).write(to: URL(fileURLWithPath: passFile))
        chmod(passFile, 0o644)
        let open = try workspace.keys(["change-passphrase", "--new-passphrase-file", passFile, "--kdf", "minimum"])
        #expect(open.status == 77)
        chmod(passFile, 0o600)
        let back = try workspace.keys(["change-passphrase", "--new-passphrase-file", passFile, "--kdf", "minimum"])
        #expect(back.status == 0, "\(back.err)")
        let list = try CLIRunner.run(["keys", "list", "--keyring", workspace.keyring, "--passphrase-file", passFile])
        #expect(list.status == 0)
        #expect(list.out.contains("pending"))
    }

    @Test func signersExportImportAndNames() throws {
        let alice = try KeyringWorkspace()
        let bob = try KeyringWorkspace()
        let created = try alice.keys(["new-signer", "alice-gw", "--topics", "alice/#"])
        #expect(created.status == 0)
        #expect(created.err.hasPrefix("created signing identity alice-gw: sid "))
        let sid = try KeyringWorkspace.printedID(created)

        let duplicate = try alice.keys(["new-signer", "alice-gw"])
        #expect(duplicate.status == 65)
        #expect(duplicate.err == "mqtt-seal: a signing identity named alice-gw already exists\n")
        let badName = try alice.keys(["new-signer", "bad name!"])
        #expect(badName.status == 64)
        #expect(badName.err.contains("may only use A-Z a-z 0-9 . _ - @"))

        let bundle = alice.path("alice.verifiers")
        let export = try alice.keys(["export-verifiers", "-o", bundle])
        #expect(export.status == 0)
        let text = try String(contentsOfFile: bundle, encoding: .utf8)
        #expect(text.contains("\"sid\": \"\(sid)\""))
        #expect(text.contains("\"name\": \"alice-gw\""))
        #expect(!text.contains("secret"))

        let imported = try bob.keys(["import-signer", bundle])
        #expect(imported.status == 0, "\(imported.err)")
        #expect(imported.out == "trusted signer \(sid) (alice-gw) on topics [alice/#]\n")
        let signer = try #require(try bob.load().signer(try KeyringID.parse(sid)))
        #expect(signer.name == "alice-gw")
        #expect(signer.state == .active)
        let again = try bob.keys(["import-signer", bundle])
        #expect(again.status == 64)
        #expect(again.err.contains("is already used in this keyring"))

        // Signer states: disabled and back, then revoked for good.
        #expect(try bob.keys(["disable-signer", sid]).out == "signer \(sid): active -> disabled\n")
        #expect(try bob.load().signer(try KeyringID.parse(sid))?.state == .disabled)
        #expect(try bob.keys(["enable-signer", sid]).out == "signer \(sid): disabled -> active\n")
        #expect(try bob.keys(["revoke-signer", sid]).out == "signer \(sid): active -> revoked\n")
        let final = try bob.keys(["enable-signer", sid])
        #expect(final.status == 65)
        #expect(final.err.hasPrefix("mqtt-seal: signer \(sid) is revoked and cannot become active"))
        #expect(try bob.keys(["revoke-signer", "0badc0de"]).status == 65)

        // Bad bundles: missing file, damaged JSON, an invalid point.
        #expect(try bob.keys(["import-signer", bob.path("none.json")]).status == 66)
        let damaged = try bob.keys(["import-signer", "-"], stdin: Data("{\"format\":".utf8))
        #expect(damaged.status == 65)
        #expect(damaged.err == "mqtt-seal: verifier file is not valid verifier JSON\n")
        let smallOrder = Data(repeating: 0, count: 32).base64EncodedString()
        let invalid = """
            {"format": "mqtt-seal-verifiers", "version": 1, "signers": [{"sid": "01020304", "publicKey": "\(smallOrder)", "topics": ["#"]}]}
            """
        let point = try bob.keys(["import-signer", "-"], stdin: Data(invalid.utf8))
        #expect(point.status == 65)
        #expect(point.err.hasPrefix("mqtt-seal: verifier file is malformed: "))
        #expect(try bob.load().signers.count == 1)
    }

    /// Eight `keys add` processes at once: the lock serialises them, no update is lost.
    @Test func concurrentInvocationsAreSerialisedByTheLock() async throws {
        let workspace = try KeyringWorkspace()
        let results = try await withThrowingTaskGroup(of: CLIResult.self) { group in
            for _ in 0..<8 { group.addTask { try workspace.keys(["add"]) } }
            var all: [CLIResult] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.err))")
        let keyring = try workspace.load()
        #expect(keyring.keys.count == 8)
        #expect(keyring.generation == 9)
        #expect(Set(keyring.keys.map(\.kid)).count == 8)
    }

    /// A rotation loop killed with SIGKILL at random instants: the keyring always loads, in the old or the new state.
    @Test func sigkillDuringRotationLeavesTheOldOrTheNewKeyring() throws {
        let workspace = try KeyringWorkspace()
        let firstPrimary = try KeyringID.parse(workspace.addPrimary())
        var completed = 0
        var killed = 0
        var generator = SystemRandomNumberGenerator()
        // Kill points are drawn from 0 to twice the duration of one complete run, so about half the runs
        // complete and the others die somewhere between start-up and the rename.
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try workspace.keys(["rotate"]).status == 0)
        let oneRun = clock.now - start
        let microseconds = oneRun.components.seconds * 1_000_000 + oneRun.components.attoseconds / 1_000_000_000_000
        let limit = UInt32(clamping: max(2 * microseconds, 1_000))
        var state = (
            generation: try workspace.load().generation,
            primary: try #require(try workspace.load().keys.first { $0.state == .primary }?.kid)
        )
        var seen: Set<UInt32> = [firstPrimary, state.primary]
        for _ in 0..<120 {
            let process = Process()
            process.executableURL = CLIRunner.executable
            process.arguments = ["keys", "rotate"] + workspace.flags
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 0..<limit, using: &generator))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { killed += 1 }

            let keyring = try workspace.load()
            let primaries = keyring.keys.filter { $0.state == .primary }
            try #require(primaries.count == 1)
            let primary = primaries[0].kid
            if keyring.generation == state.generation {
                #expect(primary == state.primary)
            } else {
                #expect(keyring.generation == state.generation + 1)
                #expect(!seen.contains(primary))
                #expect(keyring.key(state.primary)?.state == .decryptOnly)
                seen.insert(primary)
                completed += 1
            }
            state = (keyring.generation, primary)
        }
        // The random delays cover both outcomes; a run where either never happened proves nothing.
        #expect(killed >= 10, "only \(killed) runs were killed")
        #expect(completed >= 10, "only \(completed) rotations completed")
        // The next writer removes any temporary file a killed writer left behind.
        #expect(try workspace.keys(["rotate"]).status == 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: workspace.folder.path).filter {
            $0.contains(".tmp-")
        }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func helpTextsDescribeTheCommands() throws {
        let keys = try CLIRunner.run(["keys", "--help"])
        #expect(keys.status == 0)
        for name in [
            "init", "add", "promote", "retire", "disable", "enable", "destroy", "list", "rotate", "new-signer",
            "export-verifiers", "import-signer", "disable-signer", "enable-signer", "revoke-signer",
            "change-passphrase",
        ] {
            #expect(keys.out.contains("  \(name)"), "keys --help lacks \(name)")
        }
        #expect(keys.out.contains("MQTT_SEAL_PASSPHRASE"))
        let add = try CLIRunner.run(["keys", "add", "--help"])
        for flag in ["--suite", "--topics", "--not-after", "--keyring", "--passphrase-file", "--kek-file"] {
            #expect(add.out.contains(flag), "keys add --help lacks \(flag)")
        }
        let seal = try CLIRunner.run(["seal", "--help"])
        #expect(seal.out.contains("--sign-as"))
        let open = try CLIRunner.run(["open", "--help"])
        #expect(open.out.contains("Exits 1 for every rejection"))
        let root = try CLIRunner.run(["--help"])
        for name in ["keys", "seal", "open", "demo"] { #expect(root.out.contains("  \(name)")) }
    }
}

import Foundation
import LocalBroker
import Seal
import SealFleet
import SealKeyring
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-seal fleet ...` and `mqtt-seal device ...` against a real mosquitto, as an operator and a device run them.
@Suite(.serialized) struct FleetCLITests {
    /// A folder with one key-encryption-key file shared by the authority and the devices (for speed).
    final class Workspace: Sendable {
        let folder: URL
        let kek: String

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
            kek = folder.appendingPathComponent("kek").path
            _ = try KeyringCredential.generateKeyEncryptionKeyFile(kek)
        }

        deinit { try? FileManager.default.removeItem(at: folder) }

        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        func keyring(_ name: String) -> [String] { ["--keyring", path("\(name).keyring"), "--kek-file", kek] }
        var authority: [String] { keyring("authority") }

        /// `fleet init`; returns the authority key.
        func initialise() throws -> String {
            let result = try CLIRunner.run(["fleet", "init"] + authority)
            try #require(result.status == 0, "fleet init: \(result.err)")
            return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// `device init`; returns the path of the request file.
        func device(_ id: String, authorityKey: String) throws -> String {
            let result = try CLIRunner.run(["device", "init", "--id", id, "--authority", authorityKey] + keyring(id))
            try #require(result.status == 0, "device init: \(result.err)")
            let request = path("\(id).request")
            try Data(result.out.utf8).write(to: URL(fileURLWithPath: request))
            return request
        }

        func load(_ name: String) throws -> Keyring {
            try KeyringFile(path: path("\(name).keyring")).load(credential: KeyringCredential.keyEncryptionKeyFile(kek))
        }
    }

    @Test func enrolSyncPublishRotateRevokeFromTheCommandLine() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let endpoint = SealedPubSubTests.endpoint(broker)
        let work = try Workspace()
        let authorityKey = try work.initialise()
        let writer = try work.device("writer", authorityKey: authorityKey)
        let reader = try work.device("reader", authorityKey: authorityKey)
        let lost = try work.device("lost", authorityKey: authorityKey)
        for (request, grant) in [
            (writer, ["--write", "plant/7/telemetry"]), (reader, ["--read", "plant/7/#"]),
            (lost, ["--read", "plant/7/#"]),
        ] {
            let result = try CLIRunner.run(["fleet", "enroll", request] + grant + work.authority + endpoint)
            #expect(result.status == 0, "\(result.err)")
        }
        for id in ["writer", "reader", "lost"] {
            let sync = try CLIRunner.run(["device", "sync"] + work.keyring(id) + endpoint)
            #expect(sync.status == 0, "\(id): \(sync.err)")
            #expect(sync.out.hasPrefix("device at sequence "))
        }
        let status = try CLIRunner.run(["device", "status"] + work.keyring("reader"))
        #expect(status.out.contains("trusts") && status.out.contains("writer [plant/7/telemetry]"))
        #expect(!status.out.contains("PRIVATE") && status.status == 0)

        // A signed message from the writer reaches the reader, both following their slots.
        let sub = try BackgroundCLI(
            ["sub", "-t", "plant/7/#", "-C", "2", "-v", "-d", "--device"] + work.keyring("reader") + endpoint)
        try await sub.waitFor(stderr: "subscribed to")
        let pub = try CLIRunner.run(
            ["pub", "--device", "-t", "plant/7/telemetry", "-m", "before"] + work.keyring("writer") + endpoint)
        #expect(pub.status == 0, "\(pub.err)")

        // Rotate while both follow (the sub acks through its own connection; the writer is offline: 2 of 3).
        let rotate = try CLIRunner.run(
            ["fleet", "rotate", "--deadline", "3s", "--min-coverage", "60"] + work.authority + endpoint)
        #expect(rotate.status == 0, "\(rotate.err)")
        #expect(rotate.out.hasPrefix("promoted "))
        let pub2 = try CLIRunner.run(
            ["pub", "--device", "-t", "plant/7/telemetry", "-m", "after"] + work.keyring("writer") + endpoint)
        #expect(pub2.status == 0, "\(pub2.err)")
        #expect(try await sub.wait() == 0)
        #expect(sub.out == "plant/7/telemetry writer before\nplant/7/telemetry writer after\n")

        // Revoke: the retained slot is cleared, so the lost device's next sync finds none (exit 75; an online
        // device sees the clear itself, FleetBrokerTests), and its keys open nothing new.
        let revoke = try CLIRunner.run(
            ["fleet", "revoke", "lost", "--deadline", "2s", "--grace", "0"] + work.authority + endpoint)
        #expect(revoke.status == 0, "\(revoke.err)")
        let lostSync = try CLIRunner.run(["device", "sync", "--wait", "3"] + work.keyring("lost") + endpoint)
        #expect(lostSync.status == 75)
        #expect(lostSync.err.hasPrefix("mqtt-seal: no key slot arrived within 3 s"))
        #expect(try CLIRunner.run(["device", "sync"] + work.keyring("writer") + endpoint).status == 0)
        let sealed = try CLIRunner.run(
            ["seal", "-t", "plant/7/telemetry"] + work.keyring("writer"), stdin: Data("secret".utf8))
        #expect(sealed.status == 0, "\(sealed.err)")
        let opened = try CLIRunner.run(
            ["open", "-t", "plant/7/telemetry"] + work.keyring("lost"), stdin: sealed.stdout)
        #expect(opened.status == 1)

        let list = try CLIRunner.run(["fleet", "list"] + work.authority)
        #expect(list.out.contains("lost\t") && list.out.contains("\trevoked\t"))
        let fleetStatus = try CLIRunner.run(["fleet", "status"] + work.authority + endpoint)
        #expect(fleetStatus.status == 0)
        // The reader stopped before the revocation's slots: it is behind; the writer synced: it is current.
        #expect(fleetStatus.out.contains("\nbehind 1: reader\n"), "\(fleetStatus.out)")
    }

    @Test func badInputGetsOneLineAndADocumentedExitCode() throws {
        let work = try Workspace()
        let authorityKey = try work.initialise()
        let request = try work.device("d1", authorityKey: authorityKey)
        func run(_ arguments: [String]) throws -> CLIResult { try CLIRunner.run(arguments) }

        let badID = try run(["device", "init", "--id", "plant/7", "--authority", authorityKey] + work.keyring("bad"))
        #expect(badID.status == 64)
        #expect(
            badID.err
                == "mqtt-seal: device id: name \"plant/7\" may only use A-Z a-z 0-9 . _ - @ and must not start with -\n"
        )
        #expect(!FileManager.default.fileExists(atPath: work.path("bad.keyring")))
        let badKey = try run(["device", "init", "--id", "d2", "--authority", "AAAA"] + work.keyring("d2"))
        #expect(badKey.status == 64)
        #expect(!FileManager.default.fileExists(atPath: work.path("d2.keyring")))
        let again = try run(["device", "init", "--id", "d1", "--authority", authorityKey] + work.keyring("d1"))
        #expect(again.status == 65 && again.err.hasPrefix("mqtt-seal: ") && again.err.contains("exists"))

        // A request changed after signing (another device id) fails its proof of possession.
        var text = try String(contentsOfFile: request, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"device\":\"d1\"", with: "\"device\":\"d9\"")
        let tampered = try run(["fleet", "enroll", text, "--read", "a/#", "--offline"] + work.authority)
        #expect(tampered.status == 65)
        #expect(tampered.err == "mqtt-seal: enrolment request signature does not verify (proof of possession)\n")
        let notJSON = try run(["fleet", "enroll", "{nope", "--read", "a/#", "--offline"] + work.authority)
        #expect(notJSON.status == 65 && notJSON.err.hasPrefix("mqtt-seal: enrolment request is "))
        let noGrant = try run(["fleet", "enroll", request, "--offline"] + work.authority)
        #expect(noGrant.status == 64)
        let badFilter = try run(["fleet", "enroll", request, "--read", "a/#/b", "--offline"] + work.authority)
        #expect(badFilter.status == 64 && badFilter.err.hasPrefix("mqtt-seal: --read: topic filter"))
        #expect(try run(["fleet", "enroll", request, "--read", "a/#", "--offline"] + work.authority).status == 0)
        let twice = try run(["fleet", "enroll", request, "--read", "a/#", "--offline"] + work.authority)
        #expect(twice.status == 65 && twice.err == "mqtt-seal: device d1 is already enrolled\n")
        for (flag, value) in [("--min-coverage", "150"), ("--deadline", "soon"), ("--grace", "-1")] {
            let result = try run(["fleet", "rotate", flag, value, "--offline"] + work.authority)
            #expect(result.status == 64, "\(flag) \(value): \(result.err)")
        }
        let unknown = try run(["fleet", "revoke", "nobody", "--offline"] + work.authority)
        #expect(unknown.status == 65 && unknown.err == "mqtt-seal: no device \"nobody\" is enrolled\n")
        // A device keyring is not an authority keyring, and the other way round.
        let notAuthority = try run(["fleet", "list"] + work.keyring("d1"))
        #expect(notAuthority.status == 65 && notAuthority.err.contains("not a fleet authority keyring"))
        let notDevice = try run(["device", "status"] + work.authority)
        #expect(notDevice.status == 65 && notDevice.err.contains("is not a device keyring"))
        // A registry changed without the authority key is refused, and left as it is.
        let registry = work.path("authority.keyring.fleet")
        var json = try String(contentsOfFile: registry, encoding: .utf8)
        json = json.replacingOccurrences(of: "\"a/#\"", with: "\"#\"")
        try Data(json.utf8).write(to: URL(fileURLWithPath: registry))
        let forged = try run(["fleet", "list"] + work.authority)
        #expect(forged.status == 65)
        #expect(forged.err.hasSuffix("was changed without the authority key\n"))
        #expect(try String(contentsOfFile: registry, encoding: .utf8) == json)
        // No Swift type names in any of it.
        for result in [badID, badKey, tampered, notJSON, noGrant, badFilter, twice, unknown, notAuthority, forged] {
            #expect(!result.err.contains("FleetError") && !result.err.contains("KeyringError"))
        }
    }

    @Test func killDuringSlotApplicationLeavesTheOldOrTheNewState() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let endpoint = SealedPubSubTests.endpoint(broker)
        let work = try Workspace()
        let authorityKey = try work.initialise()
        let request = try work.device("victim", authorityKey: authorityKey)
        #expect(
            try CLIRunner.run(["fleet", "enroll", request, "--read", "p/0/#"] + work.authority + endpoint).status == 0)
        var outcomes: [String: Int] = [:]
        for round in 1...25 {
            let current = try work.load("victim")
            let before = current.device!.sequence
            // A new slot: one more read grant changes the snapshot.
            let grant = try CLIRunner.run(
                ["fleet", "grant", "victim", "--read", "p/\(round)/#"] + work.authority + endpoint)
            try #require(grant.status == 0, "\(grant.err)")
            let sync = try BackgroundCLI(["device", "sync"] + work.keyring("victim") + endpoint)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...250)))
            if sync.process.isRunning { kill(sync.process.processIdentifier, SIGKILL) }
            _ = try await sync.wait()
            // Whatever the moment of the kill, the keyring loads, and holds the old or the new state.
            let after = try work.load("victim")
            let sequence = after.device!.sequence
            if sequence == before {
                #expect(after.keys.map(\.kid) == current.keys.map(\.kid))
            } else {
                // The new state is the latest slot's: one key group per read grant p/0/# ... p/ROUND/#.
                #expect(sequence > before && after.keys.count == round + 1)
            }
            outcomes[sequence == before ? "old" : "new", default: 0] += 1
        }
        // And a final undisturbed sync reaches the latest slot.
        #expect(try CLIRunner.run(["device", "sync"] + work.keyring("victim") + endpoint).status == 0)
        #expect(try work.load("victim").keys.count == 26)
        #expect(outcomes.values.reduce(0, +) == 25)
    }

    @Test func helpTextsNameTheCommands() throws {
        let fleet = try CLIRunner.run(["fleet", "--help"])
        #expect(fleet.status == 0)
        for name in ["init", "enroll", "grant", "ungrant", "list", "rotate", "revoke", "status", "serve"] {
            #expect(fleet.out.contains("  \(name) "), "fleet --help lacks \(name)")
        }
        let device = try CLIRunner.run(["device", "--help"])
        for name in ["init", "status", "sync"] { #expect(device.out.contains("  \(name) ")) }
        let rotate = try CLIRunner.run(["fleet", "rotate", "--help"])
        for flag in ["--min-coverage", "--deadline", "--grace", "--topics", "--cafile", "--cert", "-u"] {
            #expect(rotate.out.contains(flag), "rotate --help lacks \(flag)")
        }
    }
}

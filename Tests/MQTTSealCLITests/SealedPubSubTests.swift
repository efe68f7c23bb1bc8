import Foundation
import LocalBroker
import Testing

/// `mqtt-seal pub` / `sub` with a keyring (the default): sealed on the wire, verified on receipt, rejections on
/// stderr, and the policy flags.
@Suite("mqtt-seal pub and sub, sealed", .serialized)
struct SealedPubSubTests {
    static func endpoint(_ broker: LocalBroker) -> [String] { ["-h", broker.host, "-p", "\(broker.plainPort)"] }

    /// Starts a sealed `sub` with the workspace's keyring and waits for its SUBACK.
    static func startSub(_ workspace: KeyringWorkspace, _ arguments: [String]) async throws -> BackgroundCLI {
        let sub = try BackgroundCLI(["sub", "-d"] + workspace.flags + arguments)
        try await sub.waitFor(stderr: "subscribed to")
        return sub
    }

    @Test func sealedRoundTripWithTheSenderAndSealedBytesOnTheWire() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        #expect(try workspace.keys(["new-signer", "sensor-7"]).status == 0)

        let sub = try await Self.startSub(
            workspace, Self.endpoint(broker) + ["-t", "plant/#", "-q", "1", "-v", "-C", "2", "-W", "20"])
        // A subscriber without a keyring prints the raw payloads as they cross the broker.
        let wire = try BackgroundCLI(
            ["sub", "--plain", "-d"] + Self.endpoint(broker) + ["-t", "plant/#", "-q", "1", "-C", "2", "-W", "20"])
        try await wire.waitFor(stderr: "subscribed to")
        for (topic, text) in [("plant/1", "one"), ("plant/2", "two")] {
            let pub = try workspace.run(
                ["pub"] + Self.endpoint(broker) + ["-t", topic, "-q", "1", "-m", text, "--sign-as", "sensor-7"])
            #expect(pub.status == 0, "\(pub.err)")
        }
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        #expect(sub.out == "plant/1 sensor-7 one\nplant/2 sensor-7 two\n")
        #expect(!sub.err.contains("rejected"))

        // On the wire: two envelopes (41 bytes of overhead each, 64 more for the signature), never the text.
        #expect(try await wire.wait() == 0, "stderr: \(wire.err)")
        let raw = wire.outData
        let expected: Int = 2 * (41 + 64 + 1) + 3 + 3  // two envelopes, their payloads, two newlines
        #expect(raw.count == expected, "\(raw.count) bytes")
        #expect(raw.range(of: Data("one".utf8)) == nil && raw.range(of: Data("two".utf8)) == nil)
    }

    @Test func overlappingTopicFiltersPrintEachMessageOnce() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        // Both filters match o/a. No -C: the -W deadline ends the run (exit 75), so any second copy is printed.
        let sub = try await Self.startSub(
            workspace, Self.endpoint(broker) + ["-t", "o/#", "-t", "o/+", "-q", "1", "-v", "-W", "8"])
        for text in ["first", "second"] {
            #expect(
                try workspace.run(["pub"] + Self.endpoint(broker) + ["-t", "o/a", "-q", "1", "-m", text]).status == 0)
        }
        let status = try await sub.wait()
        #expect(sub.out == "o/a - first\no/a - second\n", "stderr: \(sub.err)")
        #expect(!sub.err.contains("rejected"))
        #expect(status == 75, "stderr: \(sub.err)")
    }

    @Test func rejectionsGoToStderrWithTheirReasonAndAreNeverPrinted() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let sub = try await Self.startSub(workspace, Self.endpoint(broker) + ["-t", "r/#", "-C", "1", "-W", "20"])

        // A forger without the key: plain text on the topic, then bytes sealed with another keyring.
        #expect(try await broker.publishWithCLI(topic: "r/a", message: "not an envelope").exitStatus == 0)
        let stranger = try KeyringWorkspace()
        _ = try stranger.addPrimary()
        #expect(try stranger.run(["pub"] + Self.endpoint(broker) + ["-t", "r/b", "-m", "forged"]).status == 0)
        try await sub.waitFor(stderr: "rejected r/b")
        // Then the genuine message, which alone is printed.
        #expect(try workspace.run(["pub"] + Self.endpoint(broker) + ["-t", "r/c", "-m", "genuine"]).status == 0)
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        #expect(sub.out == "genuine\n")
        #expect(sub.err.contains("mqtt-seal sub: rejected r/a: malformed\n"))
        #expect(sub.err.contains("mqtt-seal sub: rejected r/b: unknownKey\n"))
    }

    @Test func signaturePolicyAndPlaintextOptIn() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let sub = try await Self.startSub(
            workspace,
            Self.endpoint(broker) + [
                "-t", "p/#", "-v", "-C", "2", "-W", "20", "--require-signature", "--allow-plaintext", "p/clear/#",
            ])
        // No identity in the keyring: the message is sealed but unsigned, so the policy refuses it.
        #expect(try workspace.run(["pub"] + Self.endpoint(broker) + ["-t", "p/x", "-m", "unsigned"]).status == 0)
        try await sub.waitFor(stderr: "rejected p/x: signatureRequired")
        #expect(try await broker.publishWithCLI(topic: "p/clear/1", message: "in clear").exitStatus == 0)
        #expect(try workspace.keys(["new-signer", "gw"]).status == 0)
        // The running sub learns the new identity without a restart: an envelope from an unknown signer makes it
        // re-read the keyring before deciding (its own identities verify on their topics).
        #expect(try workspace.run(["pub"] + Self.endpoint(broker) + ["-t", "p/y", "-m", "signed"]).status == 0)
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        #expect(sub.out == "p/clear/1 plaintext in clear\np/y gw signed\n")
    }

    @Test func aLostBrokerEndsTheSealedSubWithExit74InOneLine() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let sub = try await Self.startSub(
            workspace, Self.endpoint(broker) + ["-t", "gone/#", "-W", "30", "--no-reconnect"])
        await broker.kill()
        #expect(try await sub.wait() == 74, "stderr: \(sub.err)")
        let lines = sub.err.split(separator: "\n").filter { !$0.hasPrefix("mqtt-seal sub: connected") }
        #expect(lines.last?.hasPrefix("mqtt-seal: sub") == true, "stderr: \(sub.err)")
        #expect(sub.out.isEmpty)
    }

    @Test func usageAndKeyringErrorsComeBeforeTheBroker() throws {
        let workspace = try KeyringWorkspace()
        let empty = FileManager.default.temporaryDirectory
        // Port 1 on loopback: a command that tried to connect would exit 74, not 64/65.
        let unreachable = ["-h", "127.0.0.1", "-p", "1"]
        let noKeyring = try CLIRunner.run(["pub"] + unreachable + ["-t", "a", "-m", "x"], currentDirectory: empty)
        #expect(noKeyring.status == 64)
        #expect(
            noKeyring.err == "mqtt-seal: pub: no keyring: give --keyring PATH to seal, or --plain to send in clear\n")
        let both = try CLIRunner.run(["sub", "--plain", "--keyring", workspace.keyring] + unreachable + ["-t", "a"])
        #expect(both.status == 64)
        #expect(both.err.contains("--plain excludes --keyring"))
        let noPrimary = try workspace.run(["pub"] + unreachable + ["-t", "a", "-m", "x"])
        #expect(noPrimary.status == 65)
        #expect(noPrimary.err.contains("no primary"), "\(noPrimary.err)")
        _ = try workspace.addPrimary()
        let unknownSigner = try workspace.run(["pub"] + unreachable + ["-t", "a", "-m", "x", "--sign-as", "nobody"])
        #expect(unknownSigner.status == 65)
        #expect(unknownSigner.err.hasPrefix("mqtt-seal: no signing identity named nobody"))
        let badSigner = try workspace.run(["sub"] + unreachable + ["-t", "a", "--allow-signer", "xyz"])
        #expect(badSigner.status == 65)
        let plainPolicy = try CLIRunner.run(["sub", "--plain", "--require-signature"] + unreachable + ["-t", "a"])
        #expect(plainPolicy.status == 64)
        let missingKEK = try CLIRunner.run(
            ["pub", "--keyring", workspace.keyring, "--kek-file", workspace.path("none")] + unreachable + [
                "-t", "a", "-m", "x",
            ])
        #expect(missingKEK.status == 66)
        for result in [noKeyring, both, noPrimary, unknownSigner, badSigner, plainPolicy, missingKEK] {
            #expect(result.err.split(separator: "\n").count == 1, "\(result.err)")
        }
    }
}

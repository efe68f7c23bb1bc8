import Foundation
import Seal
import SealKeyring
import Testing

/// `mqtt-seal seal | mqtt-seal open` for every suite and mode, and every way `open` refuses.
@Suite("mqtt-seal seal and open")
struct EnvelopeCLITests {
    static let payload = Data("21.5 °C, line 7".utf8)

    @Test(arguments: ["xchacha20poly1305", "aes256gcm", "hmac-sha256"])
    func sealOpenRoundTripForEverySuite(_ suite: String) throws {
        let workspace = try KeyringWorkspace()
        let kid = try workspace.addPrimary(["--suite", suite])
        let sealed = try workspace.run(["seal", "-t", "plant/7/temp"], stdin: Self.payload)
        #expect(sealed.status == 0, "\(sealed.err)")
        #expect(sealed.stdout != Self.payload)
        // The MAC mode carries the payload in clear; the AEAD suites do not.
        let clear = sealed.stdout.range(of: Self.payload) != nil
        #expect(clear == (suite == "hmac-sha256"))

        let opened = try workspace.run(["open", "-t", "plant/7/temp", "-v"], stdin: sealed.stdout)
        #expect(opened.status == 0, "\(opened.err)")
        #expect(opened.stdout == Self.payload)
        let mode = suite == "hmac-sha256" ? "mac" : "encrypt"
        #expect(opened.err.hasPrefix("opened: mode \(mode), key \(kid), sender "))
        #expect(opened.err.contains("unsigned"))
    }

    @Test(arguments: ["xchacha20poly1305", "aes256gcm"])
    func encryptThenSignAndSignOnly(_ suite: String) throws {
        let workspace = try KeyringWorkspace()
        let kid = try workspace.addPrimary(["--suite", suite])
        let created = try workspace.keys(["new-signer", "sensor-7"])
        let sid = try KeyringWorkspace.printedID(created)

        let signed = try workspace.run(["seal", "-t", "t/1", "--sign-as", "sensor-7"], stdin: Self.payload)
        #expect(signed.status == 0, "\(signed.err)")
        let opened = try workspace.run(["open", "-t", "t/1", "-v"], stdin: signed.stdout)
        #expect(opened.status == 0, "\(opened.err)")
        #expect(opened.stdout == Self.payload)
        #expect(opened.err.hasPrefix("opened: mode encrypt+sign, key \(kid), sender \(sid), signer \(sid) (sensor-7)"))

        let bySign = try workspace.run(["seal", "-t", "t/1", "--sign"], stdin: Self.payload)
        #expect(try workspace.run(["open", "-t", "t/1"], stdin: bySign.stdout).stdout == Self.payload)

        let signOnly = try workspace.run(["seal", "-t", "t/1", "--sign-only"], stdin: Self.payload)
        #expect(signOnly.status == 0, "\(signOnly.err)")
        #expect(signOnly.stdout.range(of: Self.payload) != nil)
        let verified = try workspace.run(["open", "-t", "t/1", "-v"], stdin: signOnly.stdout)
        #expect(verified.stdout == Self.payload)
        #expect(verified.err.hasPrefix("opened: mode sign, key -, sender \(sid), signer \(sid) (sensor-7)"))
    }

    @Test func openRejectsEveryForgeryWithExitOne() throws {
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let sealed = try workspace.run(["seal", "-t", "a/b", "--context", "v1"], stdin: Self.payload).stdout
        #expect(try workspace.run(["open", "-t", "a/b", "--context", "v1"], stdin: sealed).status == 0)

        var flipped = sealed
        flipped[flipped.count / 2] ^= 0x20
        let cases: [(String, [String], Data)] = [
            ("authenticationFailed", ["-t", "a/b", "--context", "v1"], flipped),
            ("authenticationFailed", ["-t", "a/c", "--context", "v1"], sealed),
            ("authenticationFailed", ["-t", "a/b", "--context", "v2"], sealed),
            ("authenticationFailed", ["-t", "a/b"], sealed),
            ("malformed", ["-t", "a/b"], Data("plain text, not an envelope".utf8)),
            ("malformed", ["-t", "a/b"], Data()),
            ("authenticationFailed", ["-t", "a/b", "--context", "v1"], sealed.prefix(sealed.count - 1)),
            ("malformed", ["-t", "a/b", "--context", "v1"], sealed.prefix(20)),
        ]
        for (reason, arguments, input) in cases {
            let result = try workspace.run(["open"] + arguments, stdin: input)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stdout.isEmpty)
            #expect(result.err == "mqtt-seal: open: rejected (reason: \(reason))\n", "\(arguments)")
        }

        // A key that no longer opens (disabled) and a keyring that never had it.
        let other = try KeyringWorkspace()
        _ = try other.addPrimary()
        let unknown = try other.run(["open", "-t", "a/b", "--context", "v1"], stdin: sealed)
        #expect(unknown.err == "mqtt-seal: open: rejected (reason: unknownKey)\n")
        #expect(unknown.status == 1)
    }

    @Test func topicFiltersAreACryptographicACL() throws {
        let workspace = try KeyringWorkspace()
        let narrow = try workspace.addPrimary(["--topics", "plant/#"])
        let sealed = try workspace.run(["seal", "-t", "plant/7"], stdin: Self.payload)
        #expect(sealed.status == 0)

        let outside = try workspace.run(["seal", "-t", "office/1"], stdin: Self.payload)
        #expect(outside.status == 65)
        #expect(outside.err.hasPrefix("mqtt-seal: "))
        #expect(outside.err.contains("office/1"))

        // Another key for everything else: the plant key still only opens on plant topics.
        _ = try workspace.addPrimary()
        let moved = try workspace.run(["open", "-t", "office/1"], stdin: sealed.stdout)
        #expect(moved.status == 1)
        #expect(try workspace.run(["open", "-t", "plant/7"], stdin: sealed.stdout).status == 0)
        #expect(try workspace.keys(["retire", narrow]).status == 0)
        #expect(try workspace.keys(["disable", narrow]).status == 0)
        let disabled = try workspace.run(["open", "-t", "plant/7"], stdin: sealed.stdout)
        #expect(disabled.status == 1)
        #expect(disabled.err == "mqtt-seal: open: rejected (reason: unknownKey)\n")
    }

    @Test func sealRefusesBadInputWithOneLine() throws {
        let workspace = try KeyringWorkspace()
        let none = try workspace.run(["seal", "-t", "a"], stdin: Self.payload)
        #expect(none.status == 65)
        #expect(none.err.contains("no primary"), "\(none.err)")
        _ = try workspace.addPrimary()
        let unknownSigner = try workspace.run(["seal", "-t", "a", "--sign-as", "nobody"], stdin: Self.payload)
        #expect(unknownSigner.status == 65)
        #expect(unknownSigner.err.hasPrefix("mqtt-seal: no signing identity named nobody"))
        let badTopic = try workspace.run(["seal", "-t", "a/#"], stdin: Self.payload)
        #expect(badTopic.status == 64)
        let missingTopic = try workspace.run(["seal"], stdin: Self.payload)
        #expect(missingTopic.status == 64)
        #expect(missingTopic.err.contains("Missing expected argument '--topic <topic>'"))
        let tooLarge = try workspace.run(
            ["seal", "-t", "a"], stdin: Data(count: Sealer.maxPayloadBytes + 1))
        #expect(tooLarge.status == 65)
        #expect(tooLarge.err.contains("larger than \(Sealer.maxPayloadBytes) bytes"))
        for result in [none, unknownSigner, badTopic, tooLarge] {
            #expect(result.err.split(separator: "\n").count == 1, "\(result.err)")
            #expect(result.stdout.isEmpty)
        }
    }
}

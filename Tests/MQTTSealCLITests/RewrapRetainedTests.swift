import Foundation
import LocalBroker
import Testing

/// `keys rewrap-retained`: retained messages survive a rotation and the old key's destruction.
@Suite("mqtt-seal keys rewrap-retained", .serialized)
struct RewrapRetainedTests {
    @Test func retainedMessagesSurviveRotationAndDestructionOfTheOldKey() async throws {
        let broker = try await LocalBroker.start(
            .init(
                users: [.init("operator", password: "op-pw")],
                acl: .init(users: ["operator": [.init(.readwrite, "r/#")]])))
        defer { broker.stopNow() }
        let endpoint = ["-h", broker.host, "-p", "\(broker.plainPort)", "-u", "operator", "-P", "op-pw"]
        let workspace = try KeyringWorkspace()
        let old = try workspace.addPrimary()
        #expect(try workspace.keys(["new-signer", "meter", "--topics", "r/s"]).status == 0)
        for (topic, text) in [("r/1", "one"), ("r/2", "two")] {
            let pub = try workspace.run(["pub"] + endpoint + ["-t", topic, "-m", text, "-r", "-q", "1"])
            #expect(pub.status == 0, "\(pub.err)")
        }
        let signed = try workspace.run(
            ["pub"] + endpoint + ["-t", "r/s", "-m", "signed", "-r", "-q", "1", "--sign-as", "meter"])
        #expect(signed.status == 0, "\(signed.err)")
        let clear = try MosquittoTool.pub(
            [
                "-h", broker.host, "-p", "\(broker.plainPort)", "-u", "operator", "-P", "op-pw", "-t", "r/clear", "-m",
                "plain", "-r",
            ])
        #expect(clear.status == 0, "\(clear.err)")

        let rotated = try workspace.keys(["rotate"])
        #expect(rotated.status == 0, "\(rotated.err)")
        let new = try KeyringWorkspace.printedID(rotated)

        // A dry run lists and changes nothing.
        let dry = try workspace.run(
            ["keys", "rewrap-retained", "--topics", "r/#", "--dry-run", "--wait", "1"] + endpoint)
        #expect(dry.status == 0, "\(dry.err)")
        #expect(dry.out.contains("would rewrap r/1 \(old) -> \(new)\n"), "\(dry.out)")
        let unchanged = try workspace.run(
            ["keys", "rewrap-retained", "--topics", "r/#", "--dry-run", "--wait", "1"] + endpoint)
        #expect(unchanged.out == dry.out)

        let rewrap = try workspace.run(["keys", "rewrap-retained", "--topics", "r/#", "--wait", "1"] + endpoint)
        #expect(rewrap.status == 0, "\(rewrap.err)")
        let lines = rewrap.out.split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "rewrapped r/1 \(old) -> \(new)", "rewrapped r/2 \(old) -> \(new)",
                "skipped r/clear: not an envelope",
            ] + lines.filter { $0.hasPrefix("signed r/s ") }, "\(rewrap.out)")
        #expect(lines.contains { $0.hasPrefix("signed r/s \(old) by ") && $0.contains("(meter): not re-signed") })
        #expect(
            rewrap.err.contains(
                "4 retained, 2 rewrapped, 0 current, 1 signed (not re-signed), 0 unreadable, 1 not envelopes"))

        // Run again: nothing left to do.
        let again = try workspace.run(["keys", "rewrap-retained", "--topics", "r/1,r/2", "--wait", "1"] + endpoint)
        #expect(again.out == "current r/1 \(new)\ncurrent r/2 \(new)\n", "\(again.out)")

        // The old key goes for good; a fresh subscriber still reads the rewrapped messages.
        #expect(try workspace.keys(["disable", old]).status == 0)
        #expect(try workspace.keys(["destroy", old]).status == 0)
        let fresh = try workspace.run(
            ["sub"] + endpoint + ["-t", "r/1", "-t", "r/2", "-C", "2", "-W", "20", "-v", "-q", "1"])
        #expect(fresh.status == 0, "\(fresh.err)")
        #expect(Set(fresh.out.split(separator: "\n")) == ["r/1 - one", "r/2 - two"])

        // The signed one, sealed with the destroyed key, can no longer be opened: listed as unreadable, exit 1.
        let after = try workspace.run(["keys", "rewrap-retained", "--topics", "r/s", "--wait", "1"] + endpoint)
        #expect(after.status == 1)
        #expect(after.out.hasPrefix("unreadable r/s: "), "\(after.out)")
    }

    @Test func badArgumentsAreRefused() throws {
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let noTopics = try workspace.run(["keys", "rewrap-retained", "-p", "1"])
        #expect(noTopics.status == 64)
        let badFilter = try workspace.run(["keys", "rewrap-retained", "--topics", "a/#/b", "-p", "1"])
        #expect(badFilter.status == 65)
        #expect(badFilter.err.hasPrefix("mqtt-seal: --topics: "), "\(badFilter.err)")
        let badWait = try workspace.run(["keys", "rewrap-retained", "--topics", "a/#", "--wait", "0", "-p", "1"])
        #expect(badWait.status == 64)
        #expect(badWait.err == "mqtt-seal: --wait must be a whole number from 1 to 60, not '0'\n")
        let port = try LocalBroker.freePorts(count: 1)[0]
        let unreachable = try workspace.run(["keys", "rewrap-retained", "--topics", "a/#", "-p", "\(port)"])
        #expect(unreachable.status == 74)
    }
}

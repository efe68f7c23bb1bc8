import Foundation
import LocalBroker
import Testing

/// `sub -U`, `--remove-retained` and `-D` (MQTT 5 properties), against mosquitto, checked with mosquitto_sub.
@Suite("mqtt-seal sub -U, --remove-retained, -D", .serialized)
struct SubscriptionFlagsCLITests {
    static func endpoint(_ broker: LocalBroker) -> [String] { ["-h", broker.host, "-p", "\(broker.plainPort)"] }

    @Test func unsubscribeEndsAPersistentSessionsOldSubscription() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let session = ["-c", "-i", "unsub-session", "-q", "1"]
        // The session subscribes to old/# and keep/#, then leaves.
        let made = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + session + ["-t", "old/#", "-t", "keep/#", "-E"])
        #expect(made.status == 0, "\(made.err)")
        // Coming back, it drops old/# (-U) while subscribing to keep/# again.
        let dropped = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + session + ["-t", "keep/#", "-U", "old/#", "-E"])
        #expect(dropped.status == 0, "\(dropped.err)")
        for topic in ["old/1", "keep/1"] {
            #expect(
                try await broker.publishWithCLI(topic: topic, message: topic, options: .init(qos: 1)).exitStatus == 0)
        }
        let later = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + session + ["-t", "keep/#", "-C", "1", "-W", "10", "-v"])
        #expect(later.status == 0, "\(later.err)")
        #expect(later.out == "keep/1 keep/1\n")
        // Nothing for old/# was queued: a second read finds only what is published now.
        #expect(
            try await broker.publishWithCLI(topic: "keep/2", message: "keep/2", options: .init(qos: 1)).exitStatus == 0)
        let last = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + session + [
                "-t", "keep/#", "-t", "old/#", "-C", "1", "-W", "10", "-v",
            ])
        #expect(last.out == "keep/2 keep/2\n")

        let bad = try CLIRunner.run(["sub", "--plain", "-t", "a", "-U", "a/#/b", "-p", "1"])
        #expect(bad.status == 64)
        #expect(bad.err.hasPrefix("mqtt-seal: sub: invalid topic filter 'a/#/b'"))
    }

    @Test func removeRetainedClearsWhatItPrints() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        for index in 1...3 {
            #expect(
                try await broker.publishWithCLI(topic: "r/\(index)", message: "old \(index)", retain: true).exitStatus
                    == 0)
        }
        #expect(try await broker.publishWithCLI(topic: "other/1", message: "stays", retain: true).exitStatus == 0)
        let cleared = try CLIRunner.run(
            ["sub", "--plain", "-d"] + Self.endpoint(broker) + [
                "-t", "r/#", "--retained-only", "--remove-retained", "-v", "-W", "20",
            ])
        #expect(cleared.status == 0, "\(cleared.err)")
        #expect(Set(cleared.out.split(separator: "\n")) == ["r/1 old 1", "r/2 old 2", "r/3 old 3"])
        // mosquitto_sub finds no retained message left under r/#, and the one elsewhere untouched.
        let left = try await broker.subscribeWithCLI(topic: "r/#", count: 1, timeout: .seconds(2))
        _ = await left.wait()
        #expect(left.messages.isEmpty)
        let other = try MosquittoTool.sub(Self.endpoint(broker) + ["-t", "other/#", "-C", "1", "-W", "5", "-v"])
        #expect(other.out == "other/1 stays\n")
    }

    @Test func removeRetainedInSealedModeClearsOnlyVerifiedMessages() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let sealed = try workspace.run(
            ["pub"] + Self.endpoint(broker) + ["-t", "s/good", "-m", "sealed", "-r", "-q", "1"])
        #expect(sealed.status == 0, "\(sealed.err)")
        #expect(try await broker.publishWithCLI(topic: "s/forged", message: "forged", retain: true).exitStatus == 0)
        let cleared = try workspace.run(
            ["sub"] + Self.endpoint(broker) + [
                "-t", "s/#", "--retained-only", "--remove-retained", "-v", "-W", "20", "-q", "1",
            ])
        #expect(cleared.status == 0, "\(cleared.err)")
        #expect(cleared.out == "s/good - sealed\n")
        #expect(cleared.err.contains("rejected s/forged"))
        // The forged one was not verified, so it was not removed either.
        let left = try await broker.subscribeWithCLI(topic: "s/#", count: 2, timeout: .seconds(2))
        _ = await left.wait()
        #expect(left.messages == [.init(topic: "s/forged", payload: "forged")])
    }

    @Test func subscribeAndConnectPropertiesReachTheBroker() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        #expect(try await broker.publishWithCLI(topic: "d/1", message: "with id", retain: true).exitStatus == 0)
        let arguments =
            Self.endpoint(broker) + [
                "-t", "d/#", "-C", "1", "-W", "10", "-F", "%S %p", "-D", "subscribe", "subscription-identifier", "42",
                "-D", "connect", "user-property", "who", "me",
            ]
        let ours = try CLIRunner.run(["sub", "--plain", "-V", "5"] + arguments)
        let theirs = try MosquittoTool.sub(["-V", "mqttv5"] + arguments)
        #expect(ours.status == 0, "\(ours.err)")
        #expect(ours.out == "42 with id\n")
        #expect(ours.out == theirs.out)
    }

    @Test func badPropertiesAreUsageErrors() throws {
        let cases: [([String], String)] = [
            (
                ["sub", "-t", "x", "-D", "connect", "user-property", "k", "v"],
                "-D needs MQTT 5 (-V 5): MQTT 3.1.1 has no properties"
            ),
            (
                ["sub", "-V", "5", "-t", "x", "-D", "publish", "content-type", "t"],
                "-D publish: this command sends no PUBLISH"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "subscribe", "user-property", "k", "v"],
                "-D subscribe: this command sends no SUBSCRIBE"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "publish", "colour", "red"],
                "-D publish 'colour': unknown property"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "connect", "content-type", "t"],
                "-D connect content-type: not allowed on CONNECT"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "publish", "topic-alias", "1"],
                "-D publish topic-alias: the client chooses topic aliases itself"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "publish", "user-property", "k"],
                "-D: the value of user-property k is missing"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "publish", "message-expiry-interval", "soon"],
                "-D publish message-expiry-interval must be a whole number from 0 to 4294967295, not 'soon'"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "will", "content-type", "t"],
                "-D will needs --will-topic"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "disconnect", "reason-string", "r"],
                "-D disconnect: properties on DISCONNECT are not supported"
            ),
            (
                ["pub", "-V", "5", "-t", "x", "-m", "x", "-D", "bogus", "x", "y"],
                "-D 'bogus': the command must be connect, publish, subscribe, unsubscribe or will"
            ),
        ]
        for (arguments, message) in cases {
            let result = try CLIRunner.run(arguments + ["--plain", "-p", "1"])
            #expect(result.status == 64, "\(arguments)")
            #expect(result.err == "mqtt-seal: \(message)\n", "\(arguments)")
        }
    }
}

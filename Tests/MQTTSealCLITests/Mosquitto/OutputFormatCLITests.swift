import Foundation
import LocalBroker
import Testing

/// mosquitto's own clients, run with the same harness as `mqtt-seal`.
enum MosquittoTool {
    static func url(_ name: String) -> URL {
        for folder in ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        where FileManager.default.isExecutableFile(
            atPath: folder + "/" + name)
        {
            return URL(fileURLWithPath: folder + "/" + name)
        }
        return URL(fileURLWithPath: "/usr/bin/" + name)
    }

    static func sub(_ arguments: [String], timeout: Duration = .seconds(30)) throws -> CLIResult {
        try CLIRunner.run(arguments, timeout: timeout, program: url("mosquitto_sub"))
    }

    static func pub(_ arguments: [String], timeout: Duration = .seconds(30)) throws -> CLIResult {
        try CLIRunner.run(arguments, timeout: timeout, program: url("mosquitto_pub"))
    }
}

/// `sub -F` and `--pretty` print what `mosquitto_sub -F` prints for the same messages, byte for byte.
@Suite("mqtt-seal sub -F against mosquitto_sub -F", .serialized)
struct OutputFormatCLITests {
    static func endpoint(_ broker: LocalBroker) -> [String] { ["-h", broker.host, "-p", "\(broker.plainPort)"] }

    /// Retains `messages`, then reads them with both tools in `format`; the time stamp of %j / %J is removed
    /// from both (it is the time of printing).
    static func compare(
        _ broker: LocalBroker, format: String, extra: [String] = [], messages: [(String, String)],
        version: String = "311"
    ) throws -> (ours: String, theirs: String) {
        for (topic, text) in messages {
            let published = try MosquittoTool.pub(
                endpoint(broker) + [
                    "-V", version == "5" ? "mqttv5" : "mqttv311", "-t", topic, "-m", text, "-r", "-q", "1",
                ])
            #expect(published.status == 0, "\(published.err)")
        }
        let arguments =
            endpoint(broker) + ["-t", "f/#", "-q", "1", "-C", "\(messages.count)", "-W", "20", "-F", format] + extra
        let theirs = try MosquittoTool.sub(arguments + ["-V", version == "5" ? "mqttv5" : "mqttv311"])
        let ours = try CLIRunner.run(["sub", "--plain"] + arguments + ["-V", version])
        #expect(theirs.status == 0, "\(theirs.err)")
        #expect(ours.status == 0, "\(ours.err)")
        func clean(_ text: String) -> String {
            text.replacingOccurrences(of: #""tst":\s*"[^"]*",?\s*"#, with: "", options: .regularExpression)
        }
        return (clean(ours.out), clean(theirs.out))
    }

    static let messages = [
        ("f/a", #"{"x": 1.5, "y":[1,2,{"z":"é\n"}], "e":{}, "n":null, "big": 12345678901, "f": 0.1, "t": true}"#),
        ("f/b", "hello \"quoted\" \\ back\tslash"),
    ]

    @Test func fieldsWidthsAndEscapesMatchMosquitto() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let format = #"%t|%p|%x|%X|%q|%r|%l|%m|%-6l|%05l|%10t|%-5t.|%.1t|%8p|%-8x|%%|@@|\t\\"#
        let (ours, theirs) = try Self.compare(broker, format: format, messages: Self.messages)
        #expect(ours == theirs)
        #expect(ours.contains("f/a|{\"x\": 1.5"))
        #expect(ours.split(separator: "\n").count == 2)
    }

    @Test func jsonOutputMatchesMosquitto() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        for format in ["%j", "%J"] {
            for extra in [[], ["--pretty"]] {
                let messages = format == "%J" ? [Self.messages[0]] : Self.messages
                let (ours, theirs) = try Self.compare(broker, format: format, extra: extra, messages: messages)
                #expect(ours == theirs, "\(format) \(extra)")
                #expect(ours.contains("\"payloadlen\""))
            }
        }
    }

    @Test func mqtt5PropertiesArePrinted() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        // Published by mqtt-seal with -D, read by both tools.
        let published = try CLIRunner.run(
            ["pub", "--plain", "-V", "5"] + Self.endpoint(broker) + [
                "-t", "f/p", "-m", "body", "-r", "-q", "1", "-D", "publish", "user-property", "k", "v",
                "-D", "publish", "content-type", "text/x", "-D", "publish", "message-expiry-interval", "300",
                "-D", "publish", "response-topic", "r/t", "-D", "publish", "correlation-data", "c1",
                "-D", "publish", "payload-format-indicator", "1",
            ])
        #expect(published.status == 0, "\(published.err)")
        let arguments = Self.endpoint(broker) + ["-t", "f/p", "-C", "1", "-W", "20", "-F", "%C|%R|%D|%F|%P|%p"]
        let theirsFields = try MosquittoTool.sub(arguments + ["-V", "mqttv5"])
        let oursFields = try CLIRunner.run(["sub", "--plain", "-V", "5"] + arguments)
        #expect(oursFields.status == 0, "\(oursFields.err)")
        #expect(oursFields.out == theirsFields.out)
        #expect(oursFields.out == "text/x|r/t|c1|1|k:v|body\n")
        // The expiry counts down while retained: only its presence is compared.
        let expiry = try CLIRunner.run(
            ["sub", "--plain", "-V", "5"] + Self.endpoint(broker) + ["-t", "f/p", "-C", "1", "-F", "%E"])
        #expect(Int(expiry.out.trimmingCharacters(in: .whitespacesAndNewlines)).map { (1...300).contains($0) } == true)
        // %j carries the properties under mosquitto's names (mosquitto lists them in wire order, mqtt-seal in a
        // fixed one): compared as JSON objects.
        let json = try CLIRunner.run(
            ["sub", "--plain", "-V", "5"] + Self.endpoint(broker) + ["-t", "f/p", "-C", "1", "-F", "%j"])
        let theirJSON = try MosquittoTool.sub(
            Self.endpoint(broker) + ["-V", "mqttv5", "-t", "f/p", "-C", "1", "-F", "%j"])
        func properties(_ text: String) throws -> NSDictionary? {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            var properties = object?["properties"] as? [String: Any]
            properties?["message-expiry-interval"] = nil
            return properties.map { NSDictionary(dictionary: $0) }
        }
        let mine = try properties(json.out)
        #expect(mine != nil)
        #expect(mine == (try properties(theirJSON.out)))
    }

    @Test func sealedMessagesAreFormattedAfterOpening() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        _ = try workspace.addPrimary()
        let sub = try BackgroundCLI(
            ["sub", "-d"] + workspace.flags + Self.endpoint(broker)
                + ["-t", "s/#", "-q", "1", "-C", "1", "-W", "20", "-F", "%t %l %q %r %p"])
        try await sub.waitFor(stderr: "subscribed to")
        let pub = try workspace.run(["pub"] + Self.endpoint(broker) + ["-t", "s/1", "-m", "clear text", "-q", "1"])
        #expect(pub.status == 0, "\(pub.err)")
        #expect(try await sub.wait() == 0, "\(sub.err)")
        #expect(sub.out == "s/1 10 1 0 clear text\n")
    }

    @Test func badFormatsAreRefusedAsMosquittoRefusesThem() throws {
        let cases: [([String], String)] = [
            (["-F", "%t %"], "mqtt-seal: sub: -F '%t %' ends in an incomplete specifier\n"),
            (["-F", "%y"], "mqtt-seal: sub: -F has an unknown specifier '%y' (see --help for the list)\n"),
            (["-F", #"a\q"#], "mqtt-seal: sub: -F has an unknown escape '\\q'\n"),
            (["-F", #"a\"#], "mqtt-seal: sub: -F 'a\\' ends in an incomplete escape\n"),
            (["-F", "x@"], "mqtt-seal: sub: -F 'x@' ends in an incomplete specifier\n"),
            (["--pretty"], "mqtt-seal: sub: --pretty applies to -F %j and %J\n"),
        ]
        for (flags, message) in cases {
            let result = try CLIRunner.run(["sub", "--plain", "-t", "a", "-p", "1"] + flags)
            #expect(result.status == 64, "\(flags)")
            #expect(result.err == message, "\(flags)")
            #expect(result.out.isEmpty)
        }
    }

    @Test func aPayloadThatIsNotJSONIsReportedAndSkipped() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        for (topic, text) in [("j/1", "not json"), ("j/2", #"{"ok":true}"#)] {
            #expect(try await broker.publishWithCLI(topic: topic, message: text, retain: true).exitStatus == 0)
        }
        let result = try CLIRunner.run(
            ["sub", "--plain"] + Self.endpoint(broker) + ["-t", "j/#", "-C", "2", "-W", "20", "-F", "%t %J"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.err == "mqtt-seal sub: the payload on j/1 is not valid JSON (-F %J)\n")
        #expect(result.out.hasPrefix("j/2 {\"tst\":"))
        #expect(
            result.out.hasSuffix(
                ",\"topic\":\"j/2\",\"qos\":0,\"retain\":1,\"payloadlen\":11,\"payload\":{\"ok\":true}}\n"))
    }
}

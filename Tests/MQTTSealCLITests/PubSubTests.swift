import Foundation
import LocalBroker
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mqtt-seal pub` and `mqtt-seal sub` against a real mosquitto, and with mosquitto_pub / mosquitto_sub.
@Suite("mqtt-seal pub and sub", .serialized)
struct PubSubTests {
    /// The connection arguments for the broker's plain listener.
    static func plain(_ broker: LocalBroker) -> [String] {
        ["-h", broker.host, "-p", "\(broker.plainPort)"]
    }

    /// Starts `mqtt-seal sub ARGS -d` and waits until it has its SUBACK.
    static func startSub(_ arguments: [String]) async throws -> BackgroundCLI {
        let sub = try BackgroundCLI(["sub", "--plain", "-d"] + arguments)
        try await sub.waitFor(stderr: "subscribed to")
        return sub
    }

    // MARK: - Interoperability with mosquitto's own clients

    @Test(arguments: ["mqttv311", "5"])
    func mosquittoPubReachesOurSubAtQoS2(version: String) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let sub = try await Self.startSub(
            Self.plain(broker) + ["-V", version, "-t", "interop/in", "-q", "2", "-C", "1", "-v", "-W", "20"])
        let published = try await broker.publishWithCLI(
            topic: "interop/in", message: "hello from mosquitto_pub", options: .init(qos: 2))
        #expect(published.exitStatus == 0, "\(published.output)")
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        #expect(sub.out == "interop/in hello from mosquitto_pub\n")
    }

    @Test(arguments: ["311", "mqttv311", "5", "mqttv5"])
    func ourPubReachesMosquittoSubAtQoS2(version: String) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let mosquittoSub = try await broker.subscribeWithCLI(
            topic: "interop/out", count: 1, options: .init(protocolVersion: "mqttv5", qos: 2))
        let result = try CLIRunner.run(
            ["pub", "--plain"] + Self.plain(broker) + [
                "-V", version, "-t", "interop/out", "-q", "2", "-m", "hello from mqtt-seal",
            ])
        #expect(result.status == 0, "stderr: \(result.err)")
        #expect(result.err.isEmpty)
        let received = await mosquittoSub.wait(timeout: .seconds(20))
        #expect(received.exitStatus == 0, "\(received.output)")
        #expect(
            mosquittoSub.messages == [.init(topic: "interop/out", payload: "hello from mqtt-seal")],
            "\(received.output)")
    }

    // MARK: - pub modes, several filters, retain

    @Test func pubLinesArriveInOrderAtASubWithSeveralFilters() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let sub = try await Self.startSub(
            Self.plain(broker) + ["-t", "lines/a", "-t", "other/+", "-q", "1", "-C", "5", "-v", "-W", "20"])
        let lines = try CLIRunner.run(
            ["pub", "--plain"] + Self.plain(broker) + ["-t", "lines/a", "-q", "1", "-l"],
            stdin: Data("one\ntwo\n\nthree".utf8))
        #expect(lines.status == 0, "stderr: \(lines.err)")
        let single = try CLIRunner.run(["pub", "--plain"] + Self.plain(broker) + ["-t", "other/x", "-m", "four"])
        #expect(single.status == 0, "stderr: \(single.err)")
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        // The empty line is an empty message, as mosquitto_pub 2.0 sends it; the last line needs no newline.
        #expect(sub.out == "lines/a one\nlines/a two\nlines/a \nlines/a three\nother/x four\n")
    }

    @Test(arguments: ["1", "2"])
    func pipelinedPubLinesKeepTheirOrder(qos: String) async throws {
        // Unlimited queue: with mosquitto's default (1000 queued per client) a subscriber that falls behind on a
        // loaded machine loses messages at the broker, which is not what this test is about.
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 0))
        defer { broker.stopNow() }
        let count = 3000
        let sub = try await Self.startSub(
            Self.plain(broker) + ["-t", "ordered/t", "-q", qos, "-C", "\(count)", "-W", "60"])
        let text = (1...count).map { "line \($0)\n" }.joined()
        let pub = try CLIRunner.run(
            ["pub", "--plain"] + Self.plain(broker) + ["-t", "ordered/t", "-q", qos, "-l"], stdin: Data(text.utf8),
            timeout: .seconds(60))
        #expect(pub.status == 0, "stderr: \(pub.err)")
        #expect(try await sub.wait(timeout: .seconds(60)) == 0, "stderr: \(sub.err)")
        #expect(sub.out == text)
    }

    @Test func pubFileAndNullMessageAndStdinFile() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-seal-pub-\(UUID()).txt")
        try Data("file body".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let sub = try await Self.startSub(Self.plain(broker) + ["-t", "modes/#", "-C", "3", "-W", "20", "-v"])
        for arguments in [["-t", "modes/f", "-f", file.path], ["-t", "modes/n", "-n"]] {
            let result = try CLIRunner.run(["pub", "--plain"] + Self.plain(broker) + arguments)
            #expect(result.status == 0, "stderr: \(result.err)")
        }
        let stdin = try CLIRunner.run(
            ["pub", "--plain"] + Self.plain(broker) + ["-t", "modes/s", "-s"], stdin: Data("a\nb".utf8))
        #expect(stdin.status == 0, "stderr: \(stdin.err)")
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        #expect(sub.out == "modes/f file body\nmodes/n \nmodes/s a\nb\n")
    }

    @Test func retainedMessageReachesALaterSubscriberUnlessSkipped() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let pub = try CLIRunner.run(
            ["pub", "--plain"] + Self.plain(broker) + ["-t", "state/door", "-q", "1", "-r", "-m", "open"])
        #expect(pub.status == 0, "stderr: \(pub.err)")
        let later = try CLIRunner.run(
            ["sub", "--plain"] + Self.plain(broker) + ["-t", "state/door", "-C", "1", "-W", "10"])
        #expect(later.status == 0, "stderr: \(later.err)")
        #expect(later.out == "open\n")
        // -R skips the stale message, so nothing arrives: -W ends it with 75 and one line.
        let skipping = try CLIRunner.run(
            ["sub", "--plain"] + Self.plain(broker) + ["-t", "state/door", "-R", "-C", "1", "-W", "1"])
        #expect(skipping.status == 75)
        #expect(skipping.out.isEmpty)
        #expect(skipping.err == "mqtt-seal: sub: timed out after 1 s (-W)\n")
    }

    // MARK: - TLS

    @Test func tlsWithCAFileAndMutualTLS() async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let certificates = try #require(broker.certificates)
        let tlsPort = try #require(broker.tlsPort)
        let mtlsPort = try #require(broker.mtlsPort)
        let sub = try await Self.startSub([
            "-h", "localhost", "-p", "\(tlsPort)", "--cafile", certificates.caFile, "-t", "secure/t", "-C", "1",
            "-W", "20",
        ])
        let pub = try CLIRunner.run([
            "pub", "--plain", "-h", "localhost", "-p", "\(mtlsPort)", "--cafile", certificates.caFile, "--cert",
            certificates.clientCert, "--key", certificates.clientKey, "-t", "secure/t", "-q", "1", "-m", "over mTLS",
        ])
        #expect(pub.status == 0, "stderr: \(pub.err)")
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        #expect(sub.out == "over mTLS\n")
        #expect(sub.err.contains("over TLS"))

        /// One `pub -m x` to localhost:`port` with these TLS flags.
        func refusedPub(port: Int, _ tls: [String]) throws -> CLIResult {
            try CLIRunner.run(
                ["pub", "--plain", "-h", "localhost", "-p", "\(port)"] + tls + ["-t", "secure/t", "-m", "x"])
        }

        // The mTLS listener refuses a client without a certificate.
        let noCert = try refusedPub(port: mtlsPort, ["--cafile", certificates.caFile])
        #expect(noCert.status == 74, "stderr: \(noCert.err)")
        #expect(
            noCert.err
                == "mqtt-seal: TLS with localhost:\(mtlsPort) failed: the broker requires a client certificate "
                + "(--cert and --key)\n")

        // A client certificate from a CA the broker does not trust.
        let wrongClient = try refusedPub(
            port: mtlsPort,
            [
                "--cafile", certificates.caFile, "--cert", certificates.wrongClientCert, "--key",
                certificates.wrongClientKey,
            ])
        #expect(wrongClient.status == 74, "stderr: \(wrongClient.err)")
        #expect(
            wrongClient.err
                == "mqtt-seal: TLS with localhost:\(mtlsPort) failed: the broker does not trust the client certificate "
                + "(unknown CA)\n")

        // TLS to the plain listener.
        let plainPort = try refusedPub(port: broker.plainPort, ["--cafile", certificates.caFile])
        #expect(plainPort.status == 74, "stderr: \(plainPort.err)")
        #expect(plainPort.err.hasPrefix("mqtt-seal: TLS with localhost:\(broker.plainPort) failed: the server "))
        #expect(!plainPort.err.contains("errno"), "stderr: \(plainPort.err)")
        #expect(plainPort.err.split(separator: "\n").count == 1, "stderr: \(plainPort.err)")

        // A CA that did not sign the server certificate is refused.
        let wrongCA = try refusedPub(port: tlsPort, ["--cafile", certificates.wrongCAFile])
        #expect(wrongCA.status == 74, "stderr: \(wrongCA.err)")
        #expect(
            wrongCA.err
                == "mqtt-seal: TLS with localhost:\(tlsPort) failed: the server certificate is not trusted (unknown CA, "
                + "expired or not yet valid)\n")
    }

    @Test func wrongHostNameIsRefusedUnlessInsecure() async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let certificates = try #require(broker.certificates)
        let port = try #require(broker.mismatchedHostPort)
        let arguments = [
            "pub", "--plain", "-h", "localhost", "-p", "\(port)", "--cafile", certificates.caFile, "-t", "t", "-q", "1",
            "-m", "x",
        ]
        let refused = try CLIRunner.run(arguments)
        #expect(refused.status == 74, "stderr: \(refused.err)")
        #expect(
            refused.err
                == "mqtt-seal: TLS with localhost:\(port) failed: the server certificate does not name localhost "
                + "(connect by a name it lists, or use --insecure)\n")
        let insecure = try CLIRunner.run(arguments + ["--insecure"])
        #expect(insecure.status == 0, "stderr: \(insecure.err)")
    }

    // MARK: - Credentials

    @Test(arguments: ["311", "5"])
    func usernameAndPassword(version: String) async throws {
        let broker = try await LocalBroker.start(.init(users: [.init("alice", password: "s3cret")]))
        defer { broker.stopNow() }
        let base = ["-V", version, "-t", "auth/t"]
        let good = try CLIRunner.run(
            ["pub", "--plain"] + Self.plain(broker) + base + ["-u", "alice", "-P", "s3cret", "-m", "x"])
        #expect(good.status == 0, "stderr: \(good.err)")
        let goodSub = try CLIRunner.run(
            ["sub", "--plain"] + Self.plain(broker) + base + ["-u", "alice", "-P", "s3cret", "-W", "1"])
        #expect(goodSub.status == 75, "connected and subscribed, then -W: \(goodSub.err)")

        for credentials in [["-u", "alice", "-P", "wrong"], ["-u", "mallory", "-P", "s3cret"], []] {
            let bad = try CLIRunner.run(["pub", "--plain"] + Self.plain(broker) + base + credentials + ["-m", "x"])
            #expect(bad.status == 77, "\(credentials): \(bad.err)")
            #expect(bad.err.hasPrefix("mqtt-seal: the broker at \(broker.host):\(broker.plainPort) refused"))
            #expect(bad.err.split(separator: "\n").count == 1, "stderr: \(bad.err)")
            let badSub = try CLIRunner.run(["sub", "--plain"] + Self.plain(broker) + base + credentials + ["-W", "5"])
            #expect(badSub.status == 77, "\(credentials): \(badSub.err)")
        }
    }

    @Test(arguments: ["311", "5"])
    func deniedTopicsExit77(version: String) async throws {
        // mosquitto's dynamic-security plugin refuses these in the SUBACK (0x87 in MQTT 5, 0x80 in 3.1.1)
        // and, in MQTT 5, in the PUBACK.
        let broker = try await LocalBroker.start(.init(anonymousDeniedTopics: ["denied/#"]))
        defer { broker.stopNow() }
        let sub = try CLIRunner.run(
            ["sub", "--plain"] + Self.plain(broker) + ["-V", version, "-t", "denied/x", "-W", "5"])
        #expect(sub.status == 77, "stderr: \(sub.err)")
        #expect(sub.err.hasPrefix("mqtt-seal: sub: subscribe to denied/x: the broker at "), "stderr: \(sub.err)")
        #expect(sub.err.split(separator: "\n").count == 1, "stderr: \(sub.err)")
        if version == "5" {
            let pub = try CLIRunner.run(
                ["pub", "--plain"] + Self.plain(broker) + ["-V", "5", "-t", "denied/x", "-q", "1", "-m", "x"])
            #expect(pub.status == 77, "stderr: \(pub.err)")
            #expect(pub.err.hasSuffix("says not authorised\n"), "stderr: \(pub.err)")
        }
        let allowed = try CLIRunner.run(
            ["pub", "--plain"] + Self.plain(broker) + ["-V", version, "-t", "open/x", "-q", "1", "-m", "x"])
        #expect(allowed.status == 0, "stderr: \(allowed.err)")
    }

    // MARK: - Errors without a broker

    @Test(arguments: [
        (["pub", "--plain", "-t", "t", "-m", "x", "-l"], "mqtt-seal: pub: use only one of -m, -l"),
        (["pub", "--plain", "-t", "t", "-m", "x", "-n"], "mqtt-seal: pub: use only one of -m, -n"),
        (["pub", "--plain", "-t", "t"], "mqtt-seal: pub: say what to send with -m, -f, -l, -s or -n"),
        (["pub", "--plain", "-m", "x"], "mqtt-seal: pub: -t TOPIC (or -L URL) is required"),
        (["pub", "--plain", "-t", "t", "-m", "x", "-q", "3"], "mqtt-seal: -q must be 0, 1 or 2, not '3'"),
        (
            ["pub", "--plain", "-t", "t", "-m", "x", "-V", "4"],
            "mqtt-seal: -V must be mqttv311 (311) or mqttv5 (5), not '4'"
        ),
        (["pub", "--plain", "-t", "t", "-m", "x", "-V", "mqttv31"], "mqtt-seal: -V mqttv31 is not supported"),
        (["pub", "--plain", "-t", "a/#", "-m", "x"], "mqtt-seal: pub: invalid topic 'a/#'"),
        (
            ["pub", "--plain", "-t", "t", "-m", "x", "-p", "70000"],
            "mqtt-seal: -p must be a whole number from 1 to 65535"
        ),
        (["pub", "--plain", "-t", "t", "-m", "x", "--insecure"], "mqtt-seal: --insecure needs --cafile"),
        (
            ["pub", "--plain", "-t", "t", "-m", "x", "--cafile", "/etc/hostname", "--cert", "/etc/hostname"],
            "mqtt-seal: --cert needs --key"
        ),
        (["sub", "--plain", "-q", "1"], "mqtt-seal: sub: at least one -t TOPIC (or -L URL) is required"),
        (["sub", "--plain", "-t", "a/#/b"], "mqtt-seal: sub: invalid topic filter 'a/#/b'"),
        (["sub", "--plain", "-t", "a", "-C", "0"], "mqtt-seal: -C must be a whole number from 1"),
        (["sub", "--plain", "-t", "a", "-W", "soon"], "mqtt-seal: -W must be a whole number from 1"),
        (["bench-mqtt", "--qos", "0,3"], "mqtt-seal: --qos must be 0, 1 or 2, not '3'"),
        (["bench-mqtt", "--count", "0"], "mqtt-seal: --count must be a whole number from 1"),
    ])
    func usageErrorsExit64WithOneLine(arguments: [String], message: String) throws {
        // Every check runs before any connection (the default broker, localhost:1883, is never contacted).
        let result = try CLIRunner.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.err)")
        #expect(result.err.hasPrefix(message), "\(arguments): \(result.err)")
        #expect(result.err.split(separator: "\n").count == 1, "\(arguments): \(result.err)")
        #expect(result.out.isEmpty)
    }

    @Test func missingFilesExit66() throws {
        let missing = "/nonexistent/mqtt-seal-\(UUID()).txt"
        let file = try CLIRunner.run(["pub", "--plain", "-h", "127.0.0.1", "-p", "1", "-t", "t", "-f", missing])
        #expect(file.status == 66)
        #expect(file.err == "mqtt-seal: -f \(missing): no such file\n")
        let cafile = try CLIRunner.run(["sub", "--plain", "-h", "127.0.0.1", "-p", "1", "-t", "t", "--cafile", missing])
        #expect(cafile.status == 66)
        #expect(cafile.err == "mqtt-seal: --cafile \(missing): no such file\n")
    }

    @Test func unreachableBrokerExits74InOneLine() throws {
        // Port 1 on loopback: nothing listens there.
        for command in [["pub", "--plain", "-m", "x"], ["sub", "--plain", "-W", "30"]] {
            let result = try CLIRunner.run(command + ["-h", "127.0.0.1", "-p", "1", "-t", "t"], timeout: .seconds(30))
            #expect(result.status == 74, "\(command): \(result.err)")
            #expect(result.err.hasPrefix("mqtt-seal: cannot connect to 127.0.0.1:1"), "\(result.err)")
            #expect(result.err.split(separator: "\n").count == 1, "\(result.err)")
        }
    }

    @Test func silentBrokerEndsWithTheConnectTimeout() throws {
        // A loopback listener that never answers: TCP connects (the kernel's backlog), CONNACK never comes.
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let started = ContinuousClock.now
        let result = try CLIRunner.run(
            ["pub", "--plain", "-h", "127.0.0.1", "-p", "\(port)", "-t", "t", "-m", "x", "--connect-timeout", "1"],
            timeout: .seconds(20))
        #expect(result.status == 74, "stderr: \(result.err)")
        #expect(result.err == "mqtt-seal: cannot connect to 127.0.0.1:\(port): no answer in time\n")
        #expect(ContinuousClock.now - started < .seconds(15), "bounded by --connect-timeout, not a hang")
    }

    // MARK: - Help

    @Test func helpTextsNameTheMosquittoFlags() throws {
        let pub = try CLIRunner.run(["pub", "--help"])
        #expect(pub.status == 0)
        for flag in [
            "-h, --host", "-p, --port", "-t, --topic", "-m, --message", "-f, --file", "-l, --stdin-line",
            "-s, --stdin-file", "-n, --null-message", "-q, --qos", "-r, --retain", "-i, --id", "-u, --username",
            "-P, --pw", "-V, --protocol-version", "--cafile", "--cert", "--key", "--insecure", "--help",
        ] {
            #expect(pub.out.contains(flag), "pub --help lacks \(flag)")
        }
        #expect(pub.out.contains("Exit codes"))
        let sub = try CLIRunner.run(["sub", "--help"])
        #expect(sub.status == 0)
        for flag in ["-t, --topic", "-C, --count", "-W, --timeout", "-v, --verbose", "-q, --qos", "-R", "-N"] {
            #expect(sub.out.contains(flag), "sub --help lacks \(flag)")
        }
        #expect(sub.out.replacingOccurrences(of: "\n", with: " ").contains("exits 75"))
        let bench = try CLIRunner.run(["bench-mqtt", "--help"])
        #expect(bench.status == 0)
        #expect(bench.out.contains("--count"))
        let root = try CLIRunner.run(["--help"])
        for command in ["pub", "sub", "bench-mqtt"] { #expect(root.out.contains(command)) }
    }
}

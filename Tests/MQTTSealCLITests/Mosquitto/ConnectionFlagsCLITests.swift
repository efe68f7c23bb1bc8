import Foundation
import LocalBroker
import Testing

/// `-L`, `--unix`, `-A`, `-I`, `--quiet`, `--capath`, `--tls-version`, `--nodelay` and the refused mosquitto flags,
/// against real brokers, with mosquitto_pub / mosquitto_sub as the independent peers.
@Suite("mqtt-seal pub/sub connection flags as mosquitto's", .serialized)
struct ConnectionFlagsCLITests {
    static func endpoint(_ broker: LocalBroker) -> [String] { ["-h", broker.host, "-p", "\(broker.plainPort)"] }

    @Test func urlNamesTheBrokerTheCredentialsAndTheTopic() async throws {
        let broker = try await LocalBroker.start(
            .init(
                users: [.init("alice", password: "s3cret@x")],
                acl: .init(users: ["alice": [.init(.readwrite, "u/#")]])))
        defer { broker.stopNow() }
        let url = "mqtt://alice:s3cret@x@\(broker.host):\(broker.plainPort)/u/1"
        let pub = try CLIRunner.run(["pub", "--plain", "-L", url, "-m", "via url", "-r", "-q", "1"])
        #expect(pub.status == 0, "\(pub.err)")
        // mosquitto_sub reads it with -L too (its parser takes the first @: the password has none here).
        let theirs = try MosquittoTool.sub([
            "-L", "mqtt://alice:s3cret@x@\(broker.host):\(broker.plainPort)/u/%23", "-C", "1", "-W", "10", "-v",
        ])
        let direct = try MosquittoTool.sub(
            Self.endpoint(broker) + ["-u", "alice", "-P", "s3cret@x", "-t", "u/#", "-C", "1", "-W", "10", "-v"])
        #expect(direct.out == "u/1 via url\n", "\(direct.err) \(theirs.err)")
        let ours = try CLIRunner.run([
            "sub", "--plain", "-L", url.replacingOccurrences(of: "/u/1", with: "/u/#"), "-C", "1", "-W", "10", "-v",
        ])
        #expect(ours.status == 0, "\(ours.err)")
        #expect(ours.out == direct.out)
        // Wrong credentials in the URL: refused by the broker (77), and the password is never echoed.
        let wrong = try CLIRunner.run([
            "sub", "--plain", "-L", "mqtt://alice:nope@\(broker.host):\(broker.plainPort)/u/#", "-C", "1",
        ])
        #expect(wrong.status == 77)
        #expect(!wrong.err.contains("nope"))
    }

    @Test func mqttsURLTurnsTLSOn() async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let certificates = try #require(broker.certificates)
        let port = try #require(broker.tlsPort)
        #expect(try await broker.publishWithCLI(topic: "t/1", message: "over tls", retain: true).exitStatus == 0)
        let ours = try CLIRunner.run([
            "sub", "--plain", "-L", "mqtts://localhost:\(port)/t/#", "--cafile", certificates.caFile, "-C", "1", "-W",
            "10", "-v",
        ])
        #expect(ours.status == 0, "\(ours.err)")
        #expect(ours.out == "t/1 over tls\n")
        // Without --cafile, mqtts:// trusts the system's CAs, which do not know this test CA.
        let untrusted = try CLIRunner.run(["sub", "--plain", "-L", "mqtts://localhost:\(port)/t/#", "-C", "1"])
        #expect(untrusted.status == 74)
        #expect(untrusted.err.contains("the server certificate is not trusted"), "\(untrusted.err)")
    }

    @Test func webSocketURLReachesRabbitMQ() async throws {
        let rabbit = try await LocalRabbitMQ.start(webMQTT: true)
        do {
            let port = try #require(rabbit.webSocketPort)
            let url = "ws://\(rabbit.host):\(port)/w/1"
            let sub = try BackgroundCLI([
                "sub", "--plain", "-d", "-L", "ws://\(rabbit.host):\(port)/w/#", "--ws-path", rabbit.webSocketPath,
                "-q", "1", "-C", "1", "-W", "30", "-v",
            ])
            try await sub.waitFor(stderr: "subscribed to", timeout: .seconds(30))
            let pub = try CLIRunner.run([
                "pub", "--plain", "-L", url, "--ws-path", rabbit.webSocketPath, "-m", "over ws", "-q", "1",
            ])
            #expect(pub.status == 0, "\(pub.err)")
            #expect(try await sub.wait() == 0, "\(sub.err)")
            #expect(sub.out == "w/1 over ws\n")
            // The default path is /mqtt, which RabbitMQ does not serve: the upgrade is refused.
            let wrongPath = try CLIRunner.run(["pub", "--plain", "-L", url, "-m", "x", "--connect-timeout", "5"])
            #expect(wrongPath.status == 74)
        } catch {
            await rabbit.stop()
            throw error
        }
        await rabbit.stop()
    }

    @Test func badURLsAreUsageErrors() throws {
        let cases: [([String], String)] = [
            (
                ["sub", "--plain", "-L", "http://h/t"],
                "-L 'http://h/t': the URL must start with mqtt://, mqtts://, ws:// or wss://"
            ),
            (["sub", "--plain", "-L", "mqtt://h"], "-L 'mqtt://h': the topic is missing (mqtt://host/topic)"),
            (
                ["sub", "--plain", "-L", "mqtt://h:99999/t"],
                "-L 'mqtt://h:99999/t': the port must be a number from 1 to 65535, not '99999'"
            ),
            (["sub", "--plain", "-L", "mqtt://u:pw@:1/t"], "-L 'mqtt://***@:1/t': the host is missing"),
            (["sub", "--plain", "-L", "mqtt://h/t", "-h", "x"], "-L names the broker; leave out -h"),
            (["sub", "--plain", "-L", "mqtt://u@h/t", "-u", "v"], "-L has a user name; leave out -u"),
            (["pub", "--plain", "-L", "mqtt://h/t", "-t", "t", "-m", "x"], "pub: -L names the topic; leave out -t"),
            (["sub", "--plain", "-t", "t", "--ws-path", "/ws"], "--ws-path needs -L ws://... or wss://..."),
        ]
        for (arguments, message) in cases {
            let result = try CLIRunner.run(arguments)
            #expect(result.status == 64, "\(arguments)")
            #expect(result.err == "mqtt-seal: \(message)\n", "\(arguments)")
        }
    }

    @Test func unixSocketCarriesPubAndSub() async throws {
        let broker = try await LocalBroker.start(.init(unixSocket: true))
        defer { broker.stopNow() }
        let sub = try BackgroundCLI([
            "sub", "--plain", "-d", "--unix", broker.unixSocketPath, "-t", "x/#", "-q", "1", "-C", "1", "-W", "20",
            "-v",
        ])
        try await sub.waitFor(stderr: "subscribed to")
        let pub = try CLIRunner.run([
            "pub", "--plain", "--unix", broker.unixSocketPath, "-t", "x/1", "-m", "unix", "-q", "1",
        ])
        #expect(pub.status == 0, "\(pub.err)")
        #expect(try await sub.wait() == 0, "\(sub.err)")
        #expect(sub.out == "x/1 unix\n")
        let missing = try CLIRunner.run([
            "pub", "--plain", "--unix", broker.folder + "/none.sock", "-t", "x", "-m", "x",
        ])
        #expect(missing.status == 66)
        #expect(missing.err == "mqtt-seal: --unix \(broker.folder)/none.sock: no such socket\n")
        let notSocket = try CLIRunner.run([
            "pub", "--plain", "--unix", broker.folder + "/mosquitto.conf", "-t", "x", "-m", "x",
        ])
        #expect(notSocket.status == 66)
        #expect(notSocket.err.hasSuffix("not a socket\n"))
        let withPort = try CLIRunner.run([
            "pub", "--plain", "--unix", broker.unixSocketPath, "-p", "1", "-t", "x", "-m", "x",
        ])
        #expect(withPort.status == 64)
    }

    @Test func bindAddressAndClientIDPrefixAreWhatTheBrokerSees() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let pub = try CLIRunner.run(
            ["pub", "--plain", "-A", "127.0.0.5", "-I", "prefix-", "--nodelay"] + Self.endpoint(broker) + [
                "-t", "b/1", "-m", "x", "-q", "1",
            ])
        #expect(pub.status == 0, "\(pub.err)")
        // mosquitto logs "New client connected from 127.0.0.5:PORT as prefix-PID".
        let line = try #require(broker.log.split(separator: "\n").first { $0.contains("as prefix-") }, "\(broker.log)")
        #expect(line.contains("from 127.0.0.5:"))
        let id = try #require(line.split(separator: " ").first { $0.hasPrefix("prefix-") })
        #expect(Int(id.dropFirst("prefix-".count)) != nil, "\(line)")

        let notLocal = try CLIRunner.run(
            ["pub", "--plain", "-A", "192.0.2.1"] + Self.endpoint(broker) + ["-t", "b", "-m", "x"])
        #expect(notLocal.status == 74)
        #expect(notLocal.err.contains("the local address cannot be used here"), "\(notLocal.err)")
        let notAddress = try CLIRunner.run(
            ["pub", "--plain", "-A", "nope"] + Self.endpoint(broker) + ["-t", "b", "-m", "x"])
        #expect(notAddress.status == 64)
        #expect(notAddress.err == "mqtt-seal: -A must be a local IP address, not 'nope'\n")
        let both = try CLIRunner.run(
            ["pub", "--plain", "-i", "a", "-I", "b"] + Self.endpoint(broker) + ["-t", "b", "-m", "x"])
        #expect(both.status == 64)
        #expect(both.err == "mqtt-seal: use -i or -I, not both\n")
    }

    @Test func quietPrintsNoErrorButKeepsTheExitCode() async throws {
        let port = try LocalBroker.freePorts(count: 1)[0]
        let loud = try CLIRunner.run(["sub", "--plain", "-p", "\(port)", "-t", "q"])
        #expect(loud.status == 74)
        #expect(loud.err.contains("connection refused"))
        let quiet = try CLIRunner.run(["sub", "--plain", "-p", "\(port)", "-t", "q", "--quiet"])
        #expect(quiet.status == 74)
        #expect(quiet.err.isEmpty)
        let usage = try CLIRunner.run(["sub", "--plain", "-t", "a/#/b", "--quiet"])
        #expect(usage.status == 64)
        #expect(usage.err.isEmpty)
    }

    @Test func caFolderAndTLSVersion() async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let certificates = try #require(broker.certificates)
        let port = try #require(broker.tlsPort)
        // A CApath folder: the CA under its subject hash, as `openssl rehash` names it.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("capath-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            atPath: certificates.caFile, toPath: folder.appendingPathComponent("ca.pem").path)
        let rehash = try CLIRunner.run(["rehash", folder.path], program: URL(fileURLWithPath: "/usr/bin/openssl"))
        #expect(rehash.status == 0, "\(rehash.err)")
        #expect(try await broker.publishWithCLI(topic: "c/1", message: "capath", retain: true).exitStatus == 0)
        let tls = ["-h", "localhost", "-p", "\(port)", "-t", "c/#", "-C", "1", "-W", "10"]
        let trusted = try CLIRunner.run(["sub", "--plain", "--capath", folder.path] + tls)
        #expect(trusted.status == 0, "\(trusted.err)")
        #expect(trusted.out == "capath\n")
        let theirs = try MosquittoTool.sub(["--capath", folder.path] + tls)
        #expect(theirs.out == trusted.out)
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("capath-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let untrusted = try CLIRunner.run(["sub", "--plain", "--capath", empty.path] + tls)
        #expect(untrusted.status == 74)
        #expect(untrusted.err.contains("the server certificate is not trusted"), "\(untrusted.err)")
        let missing = try CLIRunner.run(["sub", "--plain", "--capath", empty.path + "/none"] + tls)
        #expect(missing.status == 66)

        // TLS 1.3 with mosquitto (OpenSSL 3 offers it).
        let v13 = try CLIRunner.run(
            ["sub", "--plain", "--cafile", certificates.caFile, "--tls-version", "tlsv1.3"] + tls)
        #expect(v13.status == 0, "\(v13.err)")
        // A server that speaks TLS 1.2 only refuses a client that wants 1.3 at least.
        let serverPort = try LocalBroker.freePorts(count: 1)[0]
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = [
            "s_server", "-accept", "127.0.0.1:\(serverPort)", "-tls1_2", "-cert", certificates.serverCert, "-key",
            certificates.serverKey, "-quiet", "-naccept", "3",
        ]
        server.standardInput = Pipe()
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            if server.isRunning { kill(server.processIdentifier, SIGKILL) }
            server.waitUntilExit()
        }
        // Wait (bounded) until it listens.
        var attempts = 0
        while !Self.listens(serverPort), attempts < 200 {
            attempts += 1
            try await Task.sleep(for: .milliseconds(50))
        }
        let refused = try CLIRunner.run([
            "sub", "--plain", "-h", "localhost", "-p", "\(serverPort)", "--cafile", certificates.caFile,
            "--tls-version", "tlsv1.3", "-t", "x", "--connect-timeout", "5",
        ])
        #expect(refused.status == 74)
        #expect(refused.err.contains("TLS with localhost:\(serverPort) failed"), "\(refused.err)")

        for (flags, message) in [
            (
                ["--cafile", certificates.caFile, "--tls-version", "tlsv1.1"],
                "--tls-version tlsv1.1 is not offered: TLS before 1.2 is insecure; use tlsv1.2 or tlsv1.3"
            ),
            (
                ["--cafile", certificates.caFile, "--tls-version", "ssl3"],
                "--tls-version must be tlsv1.2 or tlsv1.3, not 'ssl3'"
            ),
            (["--tls-version", "tlsv1.3"], "--tls-version needs TLS (--cafile, --capath or mqtts://)"),
        ] {
            let result = try CLIRunner.run(["sub", "--plain", "-t", "x", "-p", "1"] + flags)
            #expect(result.status == 64, "\(flags)")
            #expect(result.err == "mqtt-seal: \(message)\n")
        }
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func listens(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    @Test func mosquittoFlagsThatCannotApplyAreRefusedWithTheReason() throws {
        let cases: [(String, String)] = [
            ("--psk", "TLS-PSK is not available"), ("--psk-identity", "TLS-PSK is not available (see --psk)"),
            ("--ciphers", "the cipher list is fixed"), ("--proxy", "SOCKS proxies are not supported"),
            ("--tls-engine", "OpenSSL engines are not supported"), ("--keyform", "--key is read as PEM only"),
            ("--tls-alpn", "ALPN is not supported"),
        ]
        for (flag, reason) in cases {
            for command in [["sub", "--plain", "-t", "x"], ["pub", "--plain", "-t", "x", "-m", "x"]] {
                let result = try CLIRunner.run(command + ["-p", "1", flag, "value"])
                #expect(result.status == 64, "\(flag)")
                #expect(result.err.hasPrefix("mqtt-seal: \(flag) is not supported: \(reason)"), "\(result.err)")
                #expect(!result.err.contains("nknown option"))
            }
        }
    }
}

import Foundation
import LocalBroker
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bad values and large inputs for `pub` / `sub`: one line on stderr and a documented exit code, checked before
/// anything touches the broker; and a 20 MiB message through the CLI both ways.
@Suite("mqtt-seal pub and sub input", .serialized)
struct PubSubInputTests {
    /// A port nothing listens on: a command that got as far as connecting would exit 74, not the code expected.
    let closedPort = ["-h", "127.0.0.1", "-p", "1"]

    @Test(arguments: [
        (["pub", "--plain", "-t", "a", "-m", "x", "-p", "-1"], "mqtt-seal: -p must be a whole number from 1 to 65535"),
        (["pub", "--plain", "-t", "a", "-m", "x", "-k", "-1"], "mqtt-seal: -k must be a whole number from 0 to 65535"),
        (["sub", "--plain", "-t", "a", "-C", "-5"], "mqtt-seal: -C must be a whole number from 1 to 2147483647"),
        (["pub", "--plain", "-t", "a", "-m", "x", "-q", "-1"], "mqtt-seal: "),
        (["pub", "--plain", "-t", "a", "-m", "x", "--max-packet-size", "-9"], "mqtt-seal: --max-packet-size"),
    ])
    func negativeNumbersAreOneLineUsageErrors(arguments: [String], prefix: String) throws {
        let result = try CLIRunner.run(arguments)
        #expect(result.status == 64)
        #expect(result.err.hasPrefix(prefix), "stderr: \(result.err)")
        #expect(result.err.split(separator: "\n").count == 1, "stderr: \(result.err)")
    }

    @Test func aHugeTopicIsNotEchoedBackInFull() throws {
        let topic = String(repeating: "a", count: 70_000)
        let result = try CLIRunner.run(["pub", "--plain", "-t", topic, "-m", "x"] + closedPort)
        #expect(result.status == 64)
        #expect(result.err.hasPrefix("mqtt-seal: pub: invalid topic 'aaaa"), "stderr: \(result.err.prefix(200))")
        #expect(result.err.utf8.count < 300)
        #expect(result.err.contains("(70000 bytes)"))
        let filter = try CLIRunner.run(["sub", "--plain", "-t", topic + "/#"] + closedPort)
        #expect(filter.status == 64)
        #expect(filter.err.utf8.count < 300)
    }

    @Test func anOversizedClientIdIsAUsageError() throws {
        let result = try CLIRunner.run(
            ["pub", "--plain", "-t", "a", "-m", "x", "-i", String(repeating: "c", count: 70_000)] + closedPort)
        #expect(result.status == 64)
        #expect(result.err == "mqtt-seal: -i is 70000 bytes long; MQTT allows at most 65535\n")
    }

    /// Invalid UTF-8 cannot pass through a Swift `String`, so a shell builds the argument from raw bytes.
    @Test func invalidUTF8InATopicIsRefused() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", #"exec "$0" pub --plain -h 127.0.0.1 -p 1 -t "$(printf 'caf\351')" -m x"#,
            CLIRunner.executable.path,
        ]
        let errPipe = Pipe()
        process.standardError = errPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(err == "mqtt-seal: argument 8 is not valid UTF-8 (topics, filters, ids and paths must be UTF-8 text)\n")
    }

    @Test func pubFileIsCheckedBeforeItIsRead() throws {
        let device = try CLIRunner.run(["pub", "--plain", "-t", "a", "-f", "/dev/urandom"] + closedPort)
        #expect(device.status == 66)
        #expect(device.err == "mqtt-seal: -f /dev/urandom: not a regular file\n")

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pub-input-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("payload").path
        try Data(repeating: 7, count: 5000).write(to: URL(fileURLWithPath: file))
        let large = try CLIRunner.run(
            ["pub", "--plain", "-t", "a", "-f", file, "--max-packet-size", "4096"] + closedPort)
        #expect(large.status == 65)
        #expect(
            large.err == "mqtt-seal: -f \(file): 5000 bytes is larger than the maximum packet size (4096 bytes)\n")

        // A symbolic link to a regular file is a regular file: it gets as far as connecting (exit 74 here).
        let link = folder.appendingPathComponent("link").path
        #expect(symlink(file, link) == 0)
        let linked = try CLIRunner.run(["pub", "--plain", "-t", "a", "-f", link] + closedPort)
        #expect(linked.status == 74, "stderr: \(linked.err)")

        let fifo = folder.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let pipe = try CLIRunner.run(["pub", "--plain", "-t", "a", "-f", fifo] + closedPort, timeout: .seconds(20))
        #expect(pipe.status == 66)
    }

    /// 20 MiB (over the old 16 MiB cap) from `pub -f` to `sub`.
    @Test func twentyMebibytesThroughTheCLI() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pub-large-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("payload").path
        var bytes = [UInt8](repeating: 0, count: 20 * 1024 * 1024)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 11) }
        try Data(bytes).write(to: URL(fileURLWithPath: file))

        let plain = PubSubTests.plain(broker)
        let sub = try await PubSubTests.startSub(plain + ["-t", "large", "-q", "1", "-C", "1", "-N", "-W", "60"])
        let pub = try CLIRunner.run(["pub", "--plain"] + plain + ["-t", "large", "-q", "1", "-f", file])
        #expect(pub.status == 0, "stderr: \(pub.err)")
        #expect(try await sub.wait(timeout: .seconds(90)) == 0, "stderr: \(sub.err)")
        #expect(sub.outData == Data(bytes))
    }
}

import Foundation
import LocalBroker
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SealLite on a real broker: `Examples/seallite-sensor` (C, libmosquitto) is built, provisioned with keys that
/// `mqtt-seal keys export-device-key` wrote, and talks to `mqtt-seal sub` / `pub` through mosquitto, both ways.
@Suite("SealLite sensor against mqtt-seal", .serialized)
struct SealLiteInteropTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Builds the example with the system C compiler into `folder`.
    static func buildSensor(in folder: String) throws -> String {
        let lite = root.appendingPathComponent("Sources/SealLite").path
        let sources = ["format", "sha256", "seal", "open", "replay", "backend_sodium"].map { "\(lite)/\($0).c" }
        let binary = folder + "/seallite-sensor"
        let built = try Tool.run(
            "/usr/bin/env",
            ["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I\(lite)/include", "-I\(lite)"]
                + [root.appendingPathComponent("Examples/seallite-sensor/sensor.c").path] + sources
                + ["-lmosquitto", "-lsodium", "-o", binary])
        try #require(built.status == 0, "cc: \(built.output)")
        return binary
    }

    /// A key on `topics` with `suite`, promoted; returns its kid and its hex secret from `export-device-key`.
    static func deviceKey(
        _ workspace: KeyringWorkspace, suite: String, topics: String
    ) throws -> (kid: String, hex: String) {
        let kid = try workspace.addPrimary(["--suite", suite, "--topics", topics])
        let exported = try workspace.keys(["export-device-key", kid, "--topics", topics, "--format", "hex"])
        try #require(exported.status == 0, "export-device-key: \(exported.err)")
        return (kid, exported.out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func sensorReadingsOpenInMQTTSealSubAndItsCommandsOpenOnTheSensor() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let workspace = try KeyringWorkspace()
        let sensor = try Self.buildSensor(in: workspace.folder.path)
        let mac = try Self.deviceKey(workspace, suite: "hmac-sha256", topics: "sensors/mac/#")
        let aead = try Self.deviceKey(workspace, suite: "xchacha20poly1305", topics: "sensors/enc/#")
        let port = "\(broker.plainPort)"
        let endpoint = ["-h", broker.host, "-p", port]

        // Sensor -> mqtt-seal sub: 3 HMAC-sealed and 3 XChaCha-sealed readings, and first one tampered envelope.
        let sub = try BackgroundCLI(
            ["sub", "-d"] + workspace.flags + endpoint + ["-t", "sensors/#", "-q", "1", "-v", "-C", "6", "-W", "30"])
        try await sub.waitFor(stderr: "subscribed to")
        let sealed = try Tool.run(
            sensor, ["seal", "-k", mac.hex, "-i", "0x\(mac.kid)", "-t", "sensors/mac/telemetry", "{\"forged\":1}"],
            mergeStderr: false)
        try #require(sealed.status == 0, "seal: \(sealed.output)")
        var tampered = Array(sealed.data)
        tampered[tampered.count - 3] ^= 0x01  // inside the payload, which the MAC covers
        let tamperedFile = workspace.path("tampered.bin")
        try Data(tampered).write(to: URL(fileURLWithPath: tamperedFile))
        let injected = try Tool.run(
            "/usr/bin/env",
            [
                "mosquitto_pub", "-h", broker.host, "-p", port, "-t", "sensors/mac/telemetry", "-q", "1", "-f",
                tamperedFile,
            ])
        #expect(injected.status == 0, "\(injected.output)")
        for (key, mode, topic) in [(mac, "mac", "sensors/mac/telemetry"), (aead, "xchacha", "sensors/enc/telemetry")] {
            let published = try Tool.run(
                sensor,
                ["publish", "-p", port, "-k", key.hex, "-i", "0x\(key.kid)", "-m", mode, "-t", topic, "-n", "3"])
            #expect(published.status == 0, "publish \(mode): \(published.output)")
        }
        #expect(try await sub.wait() == 0, "stderr: \(sub.err)")
        let readings = (0..<3).map {
            "{\"temperature\":\(String(format: "%.1f", 20.0 + Double($0) * 0.1)),\"n\":\($0)}"
        }
        // `-v`: topic, signer (- for none), payload.
        let expected =
            readings.map { "sensors/mac/telemetry - \($0)" } + readings.map { "sensors/enc/telemetry - \($0)" }
        #expect(sub.out.split(separator: "\n").map(String.init) == expected)
        // The tampered envelope was rejected (one line on stderr), never printed.
        #expect(sub.err.contains("rejected"), "stderr: \(sub.err)")
        #expect(!sub.out.contains("forged"))

        // mqtt-seal pub -> sensor: a sealed command opens on the sensor; the same bytes again are a replay.
        let listen = try ToolInBackground(
            sensor, ["listen", "-p", port, "-k", mac.hex, "-i", "0x\(mac.kid)", "-c", "sensors/mac/command", "-n", "3"])
        try await listen.waitFor(output: "listening on sensors/mac/command")
        let command = try workspace.run(
            ["pub"] + endpoint + ["-t", "sensors/mac/command", "-q", "1", "-m", "{\"cmd\":\"set-interval\",\"s\":30}"])
        #expect(command.status == 0, "pub: \(command.err)")
        // A raw copy of a sealed command, replayed by an attacker who recorded it.
        let recorded = try Tool.run(
            sensor, ["seal", "-k", mac.hex, "-i", "0x\(mac.kid)", "-t", "sensors/mac/command", "{\"cmd\":\"reboot\"}"],
            mergeStderr: false)
        let recordedFile = workspace.path("recorded.bin")
        try recorded.data.write(to: URL(fileURLWithPath: recordedFile))
        for _ in 0..<2 {
            let sent = try Tool.run(
                "/usr/bin/env",
                [
                    "mosquitto_pub", "-h", broker.host, "-p", port, "-t", "sensors/mac/command", "-q", "1", "-f",
                    recordedFile,
                ])
            #expect(sent.status == 0)
        }
        let status = try await listen.wait()
        let lines = listen.output.split(separator: "\n").map(String.init)
        #expect(status == 0, "\(listen.output)")
        #expect(lines.count == 4, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("opened sensors/mac/command (kid ") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasSuffix(": {\"cmd\":\"set-interval\",\"s\":30}") == true, "\(lines)")
        #expect(lines.dropFirst(2).first?.hasSuffix(": {\"cmd\":\"reboot\"}") == true, "\(lines)")
        #expect(lines.dropFirst(3).first?.contains(": replayed (code") == true, "\(lines)")
    }
}

/// A helper tool run to its end (the C compiler, the sensor, mosquitto_pub), bounded: killed by its pid after 30 s.
enum Tool {
    struct Result {
        var status: Int32
        var data: Data
        var output: String { String(decoding: data, as: UTF8.self) }
    }

    /// - Parameter mergeStderr: Whether stderr goes into the result too (not for a tool whose stdout is binary).
    static func run(_ path: String, _ arguments: [String], mergeStderr: Bool = true) throws -> Result {
        let tool = try ToolInBackground(path, arguments, mergeStderr: mergeStderr)
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while tool.process.isRunning, ContinuousClock.now < deadline { usleep(5_000) }
        if tool.process.isRunning { kill(tool.process.processIdentifier, SIGKILL) }
        tool.process.waitUntilExit()
        return Result(status: tool.process.terminationStatus, data: tool.outputData)
    }
}

/// A helper tool running in the background, its output going to a file.
final class ToolInBackground: @unchecked Sendable {
    let process = Process()
    private let file: URL

    init(_ path: String, _ arguments: [String], mergeStderr: Bool = true) throws {
        file = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: file)
        process.standardOutput = handle
        process.standardError = mergeStderr ? handle : FileHandle.standardError
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: file)
    }

    var outputData: Data { (try? Data(contentsOf: file)) ?? Data() }
    var output: String { String(decoding: outputData, as: UTF8.self) }

    /// Waits (bounded, 15 s) until the output contains `text`.
    func waitFor(output text: String) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(15))
        while ContinuousClock.now < deadline {
            if output.contains(text) { return }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no \"\(text)\" in: \(output)")
        throw CancellationError()
    }

    /// Waits (bounded, 30 s; then SIGKILL) for the exit status.
    func wait() async throws -> Int32 {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

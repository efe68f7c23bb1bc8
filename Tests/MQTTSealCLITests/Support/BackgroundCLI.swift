import Foundation
import Testing

/// `mqtt-seal ARGS` running in the background (e.g. `sub`), stdout and stderr going to files.
///
/// Only this process is ever signalled (SIGKILL, by its pid), and only if it outlives its bound.
final class BackgroundCLI: @unchecked Sendable {
    let process = Process()
    let folder: URL
    let arguments: [String]

    /// Starts `mqtt-seal ARGS`; `stdin` is a file to read standard input from (none: /dev/null).
    init(_ arguments: [String], stdin: URL? = nil) throws {
        self.arguments = arguments
        folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mqtt-seal-cli-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let outFile = folder.appendingPathComponent("stdout")
        let errFile = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        process.executableURL = CLIRunner.executable
        process.arguments = arguments
        process.standardInput = try stdin.map { try FileHandle(forReadingFrom: $0) } ?? FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    var outData: Data { (try? Data(contentsOf: folder.appendingPathComponent("stdout"))) ?? Data() }
    var out: String { (try? String(contentsOf: folder.appendingPathComponent("stdout"), encoding: .utf8)) ?? "" }
    var err: String { (try? String(contentsOf: folder.appendingPathComponent("stderr"), encoding: .utf8)) ?? "" }

    /// Waits (bounded) until stderr contains `text`, e.g. the `-d` line `subscribed to`.
    func waitFor(stderr text: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if err.contains(text) { return }
            if !process.isRunning {
                Issue.record(
                    "mqtt-seal \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(err)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no '\(text)' on stderr of mqtt-seal \(arguments.joined(separator: " ")) in time: \(err)")
    }

    /// Waits (bounded) until it exits and returns its status; kills it and records an issue on timeout.
    func wait(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("mqtt-seal \(arguments.joined(separator: " ")) did not finish within \(timeout)")
            return -1
        }
        return process.terminationStatus
    }
}

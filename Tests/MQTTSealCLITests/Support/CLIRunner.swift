import Foundation
import Testing

/// What one run of the `mqtt-seal` executable produced.
struct CLIResult: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: Data

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs the `mqtt-seal` executable that `swift build` put beside the test bundle.
enum CLIRunner {
    /// The built executable: `.build/<config>/mqtt-seal`, next to the test bundle.
    static var executable: URL {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleDir, Bundle.main.bundleURL.deletingLastPathComponent()]
        for dir in candidates {
            let url = dir.appendingPathComponent("mqtt-seal")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return bundleDir.appendingPathComponent("mqtt-seal")
    }

    /// Runs `mqtt-seal ARGS`, feeding `stdin`, with a hard timeout after which the child is killed and the
    /// test fails (a hang is a defect, never a wait).
    static func run(
        _ arguments: [String],
        stdin: Data = Data(),
        environment: [String: String] = [:],
        currentDirectory: URL? = nil,
        timeout: Duration = .seconds(60),
        program: URL? = nil
    ) throws -> CLIResult {
        let process = Process()
        process.executableURL = program ?? executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let inPipe = Pipe()
        let outPipe = Pipe()
        let errPipe = Pipe()
        process.standardInput = inPipe
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()

        // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
        let outBox = DataBox()
        let errBox = DataBox()
        let group = DispatchGroup()
        for (pipe, box) in [(outPipe, outBox), (errPipe, errBox)] {
            group.enter()
            DispatchQueue.global().async {
                box.set(pipe.fileHandleForReading.readDataToEndOfFile())
                group.leave()
            }
        }
        inPipe.fileHandleForWriting.write(stdin)
        try? inPipe.fileHandleForWriting.close()

        let seconds = Double(timeout.components.seconds)
        if group.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("mqtt-seal \(arguments.joined(separator: " ")) did not finish within \(timeout)")
            return CLIResult(status: -1, stdout: outBox.get(), stderr: errBox.get())
        }
        process.waitUntilExit()
        return CLIResult(status: process.terminationStatus, stdout: outBox.get(), stderr: errBox.get())
    }
}

/// A lock-protected byte box filled from a reader thread.
final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn`, with an empty signal mask and default signal
/// dispositions, so that `SIGTERM` lands even when the parent runs on a Swift-concurrency thread
/// that blocks it. Output goes to a file. The process is reaped by `waitpid` on its own pid only.
final class ChildProcess: @unchecked Sendable {
    /// The process id.
    let pid: pid_t
    /// The executable that was started.
    let executable: String
    /// Where stdout and stderr go.
    let outputFile: String

    private let lock = NSLock()
    private var exitStatus: Int32?

    private init(pid: pid_t, executable: String, outputFile: String) {
        self.pid = pid
        self.executable = executable
        self.outputFile = outputFile
    }

    deinit {
        // Never leave a child behind: a process nobody waited for is killed and reaped.
        if status() == nil {
            _ = sendSignal(pid, SIGKILL)
            var raw: Int32 = 0
            _ = waitpid(pid, &raw, 0)
        }
    }

    /// Starts `executable` with `arguments`, stdout and stderr appended to `outputFile`,
    /// stdin from `/dev/null`.
    static func spawn(_ executable: String, _ arguments: [String], outputFile: String) throws -> ChildProcess {
        var fileActions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        guard posix_spawn_file_actions_init(&fileActions) == 0 else {
            throw LocalBrokerError(.processFailed, "posix_spawn_file_actions_init failed")
        }
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        guard posix_spawnattr_init(&attributes) == 0 else {
            throw LocalBrokerError(.processFailed, "posix_spawnattr_init failed")
        }
        defer { posix_spawnattr_destroy(&attributes) }

        var rc = posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        guard rc == 0 else { throw LocalBrokerError(.processFailed, "addopen stdin: \(rc)") }
        rc = posix_spawn_file_actions_addopen(&fileActions, 1, outputFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard rc == 0 else { throw LocalBrokerError(.processFailed, "addopen stdout: \(rc)") }
        rc = posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        guard rc == 0 else { throw LocalBrokerError(.processFailed, "adddup2 stderr: \(rc)") }

        // The crucial part: an empty signal mask and default handlers for the signals we send.
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, signal) }
        rc = posix_spawnattr_setsigmask(&attributes, &emptyMask)
        guard rc == 0 else { throw LocalBrokerError(.processFailed, "setsigmask: \(rc)") }
        rc = posix_spawnattr_setsigdefault(&attributes, &defaults)
        guard rc == 0 else { throw LocalBrokerError(.processFailed, "setsigdefault: \(rc)") }
        rc = posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        guard rc == 0 else { throw LocalBrokerError(.processFailed, "setflags: \(rc)") }

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        rc = posix_spawn(&pid, executable, &fileActions, &attributes, argv, environ)
        guard rc == 0 else {
            throw LocalBrokerError(.processFailed, "posix_spawn \(executable) failed: \(String(cString: strerror(rc)))")
        }
        return ChildProcess(pid: pid, executable: executable, outputFile: outputFile)
    }

    /// The exit status (exit code, or 128 + signal) if the process has ended, else `nil`. Non-blocking.
    func status() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            exitStatus = Self.decode(raw)
        } else if result < 0 && errno == ECHILD {
            exitStatus = -1
        }
        return exitStatus
    }

    /// Whether the process still runs.
    var isRunning: Bool { status() == nil }

    /// Sends a signal to the process if it still runs.
    func signal(_ signal: Int32) {
        if isRunning { _ = sendSignal(pid, signal) }
    }

    /// Waits (polling, bounded) until the process ends; returns its status or `nil` on timeout.
    func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if let status = status() { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; always reaps the process.
    func terminate(grace: Duration = .seconds(2)) async -> Int32 {
        signal(SIGTERM)
        if let status = await wait(timeout: grace) { return status }
        signal(SIGKILL)
        return await wait(timeout: .seconds(10)) ?? -1
    }

    /// SIGKILL and reap.
    func killNow() async -> Int32 {
        signal(SIGKILL)
        return await wait(timeout: .seconds(10)) ?? -1
    }

    /// The output written so far.
    func output() -> String {
        (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
    }

    private static func decode(_ raw: Int32) -> Int32 {
        let signalNumber = raw & 0x7f
        if signalNumber == 0 { return (raw >> 8) & 0xff }
        return 128 + signalNumber
    }
}

/// `kill(2)`, named so it does not clash with methods called `kill`.
@inline(__always)
func sendSignal(_ pid: pid_t, _ signal: Int32) -> Int32 {
    kill(pid, signal)
}

/// Finds an executable by name in `PATH` and the usual sbin folders.
func findExecutable(_ name: String, environmentOverride: String? = nil) throws -> String {
    if let override = environmentOverride, let value = ProcessInfo.processInfo.environment[override],
        FileManager.default.isExecutableFile(atPath: value)
    {
        return value
    }
    var folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    folders += [
        "/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin", "/opt/homebrew/sbin", "/opt/homebrew/bin",
    ]
    for folder in folders {
        let candidate = folder + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw LocalBrokerError(.executableNotFound, "\(name) not found in PATH or sbin folders")
}

/// Runs a short tool to completion (bounded) and returns its output; throws if it fails.
func runTool(
    _ executable: String, _ arguments: [String], in folder: String, timeout: Duration = .seconds(30)
)
    async throws -> String
{
    let log = folder + "/tool-\(UUID().uuidString).log"
    let process = try ChildProcess.spawn(executable, arguments, outputFile: log)
    defer { try? FileManager.default.removeItem(atPath: log) }
    guard let status = await process.wait(timeout: timeout) else {
        _ = await process.killNow()
        throw LocalBrokerError(.processFailed, "\(executable) timed out")
    }
    let output = process.output()
    guard status == 0 else {
        throw LocalBrokerError(
            .processFailed, "\(executable) \(arguments.joined(separator: " ")) exited \(status): \(output)")
    }
    return output
}

/// The pid a server wrote to `file` (an Erlang VM's pid file, for example), or nil if there is none yet.
func readPIDFile(_ file: String) -> pid_t? {
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
    return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
}

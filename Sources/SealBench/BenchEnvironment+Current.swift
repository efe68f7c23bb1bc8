import Foundation

extension BenchEnvironment {
    /// The fingerprint of this machine and its software, read now.
    ///
    /// Versions that cannot be found are recorded as `unknown`; nothing here fails the run.
    public static func current() -> BenchEnvironment {
        let cpuinfo = BenchClock.readFile("/proc/cpuinfo") ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let load = BenchClock.readFile("/proc/loadavg")?.split(separator: " ").first.flatMap { Double($0) }
        var name = utsname()
        uname(&name)
        let os = [name.sysname, name.release, name.machine].map { field in
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }.joined(separator: " ")
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        return BenchEnvironment(
            cpuModel: model, cores: ProcessInfo.processInfo.activeProcessorCount, loadAverage: load, os: os,
            swiftVersion: swiftVersion(),
            libsodiumVersion: firstLine(of: ["pkg-config", "--modversion", "libsodium"]) ?? "unknown",
            opensslVersion: firstLine(of: ["openssl", "version"]) ?? "unknown",
            mosquittoVersion: firstLine(of: ["mosquitto", "-h"]) ?? "unknown", build: build,
            hostname: ProcessInfo.processInfo.hostName)
    }

    /// The compiler version: `swift --version` when a toolchain is on PATH, else the compile-time version.
    static func swiftVersion() -> String {
        if let line = firstLine(of: ["swift", "--version"]), line.contains("Swift version") { return line }
        #if compiler(>=6.3)
        return "Swift 6.3 or later (compile time)"
        #elseif compiler(>=6.2)
        return "Swift 6.2 (compile time)"
        #else
        return "Swift 6.1 (compile time)"
        #endif
    }

    /// Runs a program found on PATH with an empty stdin and returns the first non-empty line of its output
    /// (stdout, else stderr), or nil. Bounded: the child is killed after 5 seconds.
    static func firstLine(of command: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        let text =
            String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) + "\n"
            + String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationReason == .exit else { return nil }
        let line = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
        if command.first == "env" || line?.hasPrefix("env:") == true { return nil }
        return line
    }
}

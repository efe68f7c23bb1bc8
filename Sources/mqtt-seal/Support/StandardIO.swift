import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads standard input to the end, refusing more than `limit` bytes (exit 65).
func readStandardInput(limit: Int, what: String) throws(CLIFailure) -> [UInt8] {
    do {
        return try StandardStreams.readAll(limit: limit)
    } catch {
        throw CLIFailure(error.status, "\(what): \(error.message)")
    }
}

/// Reads a file, or standard input for `-`: missing file 66, unreadable 74, over `limit` 65.
func readInput(_ path: String, limit: Int, what: String) throws(CLIFailure) -> [UInt8] {
    if path == "-" { return try readStandardInput(limit: limit, what: what) }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let code = errno
        if code == ENOENT { throw CLIFailure(.noInput, "\(what) \(path) does not exist") }
        if code == EACCES { throw CLIFailure(.permission, "\(what) \(path): permission denied") }
        throw CLIFailure(.ioError, "cannot open \(what) \(path): \(String(cString: strerror(code)))")
    }
    defer { close(fd) }
    do {
        return try StandardStreams.readAll(limit: limit, fd: fd, name: path)
    } catch {
        throw CLIFailure(error.status, "\(what): \(error.message)")
    }
}

/// Writes all bytes to standard output (exit 74 when the reader went away or the disk is full).
func writeStandardOutput(_ bytes: [UInt8]) throws(CLIFailure) {
    do throws(StandardStreams.WriteFailure) {
        try StandardStreams.writeOut(bytes)
    } catch {
        switch error {
        case .closed: throw CLIFailure(.ioError, "standard output was closed")
        case .failed(let code):
            throw CLIFailure(.ioError, "cannot write standard output: \(String(cString: strerror(code)))")
        }
    }
}

/// Replaces `path` atomically with `bytes` (temporary file and rename): never a half-written file.
func writeNewFile(_ path: String, bytes: [UInt8]) throws(CLIFailure) {
    do {
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw CLIFailure(.ioError, "cannot write \(path): \(error.localizedDescription)")
    }
}

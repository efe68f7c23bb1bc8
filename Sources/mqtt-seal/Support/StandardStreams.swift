import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered access to stdin and stdout with plain `read`/`write`, for binary payloads.
enum StandardStreams {
    /// `--quiet`: ``printError(_:)`` writes nothing. Set once, when the flags are parsed.
    static let quiet = Atomic<Bool>(false)

    /// Why writing to stdout stopped.
    enum WriteFailure: Error {
        /// The reader went away (`EPIPE`), e.g. `mqtt-seal sub | head -1`.
        case closed
        /// Any other error (`errno`).
        case failed(Int32)
    }

    /// Writes all of `bytes` to stdout (one `write` call when the pipe takes it).
    static func writeOut(_ bytes: [UInt8]) throws(WriteFailure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                let code = errno
                if code == EINTR || code == EAGAIN { continue }
                throw code == EPIPE ? .closed : .failed(code)
            }
            offset += written
        }
    }

    /// Reads up to `count` bytes from `fd` (stdin by default); an empty result is the end of input.
    static func readIn(
        upTo count: Int, fd: Int32 = STDIN_FILENO, name: String = "stdin"
    ) throws(CLIFailure) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got >= 0 {
                buffer.removeSubrange(got...)
                return buffer
            }
            if errno == EINTR { continue }
            throw CLIFailure(.ioError, "cannot read \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// Reads `fd` (stdin by default) to the end, refusing more than `limit` bytes (exit 65).
    static func readAll(limit: Int, fd: Int32 = STDIN_FILENO, name: String = "stdin") throws(CLIFailure) -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk = try readIn(upTo: 65_536, fd: fd, name: name)
            if chunk.isEmpty { return all }
            all += chunk
            if all.count > limit { throw CLIFailure(.dataError, "\(name) is larger than \(limit) bytes") }
        }
    }

    /// Calls `body` with each line of stdin (without its `\n`) as it arrives, like `mosquitto_pub -l`:
    /// an empty line is an empty message; a last line without `\n` counts; bytes are passed as they are.
    static func forEachLine(limit: Int, _ body: ([UInt8]) async throws -> Void) async throws {
        var pending: [UInt8] = []
        while true {
            let chunk = try readIn(upTo: 65_536)
            if chunk.isEmpty { break }
            var start = 0
            while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
                pending += chunk[start..<newline]
                try await body(pending)
                pending.removeAll(keepingCapacity: true)
                start = newline + 1
            }
            pending += chunk[start...]
            if pending.count > limit {
                throw CLIFailure(.dataError, "a line on stdin is longer than \(limit) bytes")
            }
        }
        if !pending.isEmpty { try await body(pending) }
    }
}

import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exit codes of `mqtt-seal`, as README.md documents them (BSD `sysexits.h` where one fits).
enum ExitStatus: Int32, Sendable {
    /// Success.
    case ok = 0
    /// `open` rejected the input: authentication failed. One code for every reason, by design.
    case authenticationFailure = 1
    /// The command line is wrong (ArgumentParser's own validation errors exit with this code too).
    case usage = 64
    /// The input data (stdin, a keyring's contents, an argument's value read from a file) is malformed.
    case dataError = 65
    /// A file that must exist does not.
    case noInput = 66
    /// The session store (`--store`) cannot be used: not creatable, in use by another process, damaged, or kept for
    /// another client id (`EX_CANTCREAT`).
    case cannotCreate = 73
    /// Reading or writing failed, or a peer (broker) failed: unreachable, TLS handshake refused, connection lost.
    case ioError = 74
    /// A bounded wait ran out: `sub -W SECONDS` ended before `-C COUNT` messages arrived (`EX_TEMPFAIL`).
    case timedOut = 75
    /// The broker broke the protocol for what was asked: it answered a QoS 2 publish with PUBACK (QoS 1), as
    /// RabbitMQ does (`EX_PROTOCOL`).
    case protocolFailure = 76
    /// Permission denied: file mode, wrong passphrase, or a broker refusing the credentials.
    case permission = 77
}

/// A failure that ends the command with a one-line message on stderr and a documented exit code.
struct CLIFailure: Error, CustomStringConvertible, Sendable {
    /// The exit code.
    let status: ExitStatus
    /// One line that says what is wrong.
    let message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }
}

/// Writes one line to standard error (nothing with `--quiet`).
func printError(_ line: String) {
    if StandardStreams.quiet.load(ordering: .relaxed) { return }
    var text = line
    if !text.hasSuffix("\n") { text += "\n" }
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        bytes = bytes.dropFirst(written)
    }
}

/// Runs a command body, turning a ``CLIFailure`` into `mqtt-seal: message` on stderr and its exit code.
///
/// Everything else propagates to ArgumentParser, which prints it and exits with its own code (64 for
/// validation errors).
func runReportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as CLIFailure {
        printError("mqtt-seal: \(failure.message)")
        throw ExitCode(failure.status.rawValue)
    }
}

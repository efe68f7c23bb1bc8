import SealKeyring

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a passphrase from the controlling terminal (`/dev/tty`) with echo off. The keyring library never
/// prompts; this is the CLI's hook for ``KeyringCredential/resolve(passphraseFile:keyEncryptionKeyFile:environment:prompt:)``.
enum PassphrasePrompt {
    /// The longest passphrase read from a terminal, in bytes.
    static let maximumLength = 4096

    /// A prompt for `resolve`: nil when standard input is not a terminal (so `resolve` reports the missing
    /// credential), otherwise the passphrase typed (twice when `confirm` is set).
    static func hook(_ message: String, confirm: Bool = false) -> () throws(KeyringError) -> KeyringCredential? {
        { () throws(KeyringError) -> KeyringCredential? in
            guard isatty(STDIN_FILENO) == 1 else { return nil }
            return try ask(message, confirm: confirm)
        }
    }

    /// Asks on `/dev/tty`.
    ///
    /// - Throws: ``KeyringError`` (`invalidArgument`) when there is no terminal, the entries differ, are empty or
    ///   are longer than ``maximumLength``.
    static func ask(_ message: String, confirm: Bool) throws(KeyringError) -> KeyringCredential {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            throw KeyringError(
                .invalidArgument,
                "no terminal to ask for the passphrase; set \(KeyringCredential.environmentVariable) or use "
                    + "--passphrase-file")
        }
        defer { close(fd) }
        var first = [UInt8](repeating: 0, count: maximumLength + 1)
        defer { KeyringCredential.wipe(&first) }
        let firstCount = try readHidden(fd: fd, message: message, into: &first)
        if confirm {
            var second = [UInt8](repeating: 0, count: maximumLength + 1)
            defer { KeyringCredential.wipe(&second) }
            let secondCount = try readHidden(fd: fd, message: "Repeat: ", into: &second)
            guard firstCount == secondCount, first[..<firstCount].elementsEqual(second[..<secondCount]) else {
                throw KeyringError(.invalidArgument, "the passphrases do not match")
            }
        }
        return try first.withUnsafeBufferPointer { all throws(KeyringError) in
            try KeyringCredential.passphrase(bytes: UnsafeBufferPointer(rebasing: all[..<firstCount]))
        }
    }

    /// Reads one line into `line`, which is allocated once at full size: growing an array by appending would
    /// leave unwiped copies of the passphrase in freed memory.
    private static func readHidden(fd: Int32, message: String, into line: inout [UInt8]) throws(KeyringError) -> Int {
        var saved = termios()
        let isTerminal = tcgetattr(fd, &saved) == 0
        if isTerminal {
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            silent.c_lflag |= tcflag_t(ECHONL)
            _ = tcsetattr(fd, TCSAFLUSH, &silent)
        }
        defer {
            if isTerminal { _ = tcsetattr(fd, TCSAFLUSH, &saved) }
        }
        _ = message.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress!, $0.count - 1) }
        var count = 0
        var byte: UInt8 = 0
        defer { byte = 0 }
        while true {
            let got = read(fd, &byte, 1)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 || byte == UInt8(ascii: "\n") { break }
            if byte == UInt8(ascii: "\r") { continue }
            guard count < maximumLength else {
                throw KeyringError(.invalidArgument, "the passphrase is longer than \(maximumLength) bytes")
            }
            line[count] = byte
            count += 1
        }
        return count
    }
}

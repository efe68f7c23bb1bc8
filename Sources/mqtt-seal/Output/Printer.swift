import Foundation
import MQTT
import NIOCore
import SealKeyring
import SealedMQTT
import Synchronization

/// Formats one message as `mosquitto_sub` does (`-v`: topic, space, payload; `-F`: the format) and writes it in
/// one call.
struct Printer: Sendable {
    let verbose: Bool
    let newline: Bool
    /// `-F`, which takes the place of `-v`.
    let format: OutputFormat?

    init(verbose: Bool, newline: Bool, format: OutputFormat? = nil) {
        self.verbose = verbose
        self.newline = newline
        self.format = format
    }

    /// Prints one message: `label` is what `-v` shows before the payload (the topic, for sealed messages also the
    /// sender); `details` builds the fields `-F` needs, only when `-F` is given. With `-F %J` a payload that is not
    /// JSON is one line on stderr and nothing on stdout.
    func print(
        label: String, payload: ByteBuffer, details: () -> PrintedMessage
    ) throws(StandardStreams.WriteFailure) {
        var line: [UInt8] = []
        if let format {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let message = details()
            do throws(OutputFormat.RenderFailure) {
                line = try format.render(message, now: now)
            } catch {
                printError("mqtt-seal sub: the payload on \(message.topic) is not valid JSON (-F %J)")
                return
            }
        } else {
            line.reserveCapacity(payload.readableBytes + (verbose ? label.utf8.count + 1 : 0) + 1)
            if verbose {
                line += label.utf8
                line.append(UInt8(ascii: " "))
            }
            payload.withUnsafeReadableBytes { line += $0 }
        }
        if newline { line.append(UInt8(ascii: "\n")) }
        try StandardStreams.writeOut(line)
    }
}

/// Prints verified messages for `sub` (with `-v`: topic, sender, payload) and counts them for `-C` across all
/// subscriptions.
final class SealedPrinter: Sendable {
    let printer: Printer
    let keys: KeyringWatcher
    let limit: Int?
    private let printed = Mutex(0)

    init(printer: Printer, keys: KeyringWatcher, limit: Int?) {
        self.printer = printer
        self.keys = keys
        self.limit = limit
    }

    /// Prints one message; true when `-C` is reached (or stdout was closed) and the command should end.
    func print(_ message: SealedMessage) throws(CLIFailure) -> Bool {
        let index = printed.withLock { count -> Int in
            count += 1
            return count
        }
        if let limit, index > limit { return true }
        var label = message.topic
        if printer.verbose && printer.format == nil { label += " " + sender(of: message) }
        do throws(StandardStreams.WriteFailure) {
            try printer.print(label: label, payload: ByteBuffer(bytes: message.payload)) {
                PrintedMessage(
                    topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                    packetIdentifier: message.packetIdentifier, properties: message.properties)
            }
        } catch {
            if case .failed(let code) = error {
                throw CLIFailure(.ioError, "sub: cannot write to stdout (errno \(code))")
            }
            return true
        }
        return limit.map { index >= $0 } ?? false
    }

    /// The signer's name (or sid) for a signed message, `plaintext` for clear data, `-` when unsigned.
    private func sender(of message: SealedMessage) -> String {
        guard let envelope = message.envelope else { return "plaintext" }
        guard let sid = envelope.signer else { return "-" }
        let keyring = keys.current.keyring
        return keyring.signer(sid)?.name ?? keyring.identity(sid)?.name ?? KeyringID.format(sid)
    }
}

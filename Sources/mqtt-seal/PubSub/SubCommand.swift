import ArgumentParser
import MQTT
import NIOCore

/// `mqtt-seal sub`: subscribes and prints like `mosquitto_sub` (plaintext; opening is a later ``PayloadStep``).
struct SubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe to topics and print the messages (flags as mosquitto_sub).",
        discussion: """
            Prints each message's payload on one line of stdout (with -v: the topic, a space, the payload), \
            exactly as received, one write per message. Several -t filters share one subscription at the \
            -q QoS. Retained messages are printed (and counted by -C) unless -R is given. -C COUNT exits 0 \
            after COUNT messages; -W SECONDS exits 75 if the command is still running that long after \
            connecting (like mosquitto_sub's -W, which exits 27). A lost connection exits 74; there is no \
            reconnection. The default protocol is MQTT 3.1.1, as in mosquitto_sub; the port is 1883, or \
            8883 when --cafile or --tls-use-os-certs turns TLS on. Help is --help only: -h is the host.

            Exit codes: 0 -C messages received (or stdout was closed); 64 usage (bad or conflicting flags, \
            invalid topic filter); 65 a TLS file is malformed; 66 a --cafile, --cert or --key file is \
            missing or unreadable; 74 the broker is unreachable, TLS failed or the connection was lost; \
            75 -W ran out; 77 the broker refused the credentials or the subscription (not authorised).
            """,
        helpNames: [.long]
    )

    @OptionGroup var broker: BrokerOptions

    @Option(name: [.customShort("t"), .long], help: "A topic filter to subscribe to (repeat for several).")
    var topic: [String] = []

    @Option(name: [.customShort("q"), .long], help: "The subscription QoS: 0, 1 or 2.")
    var qos: String = "0"

    @Option(name: [.customShort("C"), .long], help: "Exit after this many messages (1 or more).")
    var count: String?

    @Option(
        name: [.customShort("W"), .long],
        help: "Exit 75 after this many seconds (1-2147483), counted from the connection.")
    var timeout: String?

    @Flag(name: [.customShort("v"), .long], help: "Print the topic, a space, then the payload.")
    var verbose = false

    @Flag(name: [.customShort("N")], help: "Do not print a newline after each payload.")
    var noNewline = false

    @Flag(name: [.customShort("R")], help: "Skip retained (stale) messages; they do not count for -C.")
    var skipRetained = false

    func run() async throws {
        try await runReportingFailures {
            try await receive(step: PlaintextStep())
        }
    }

    /// Checks the flags, connects, subscribes and prints every message that `step` lets through.
    func receive(step: some PayloadStep) async throws {
        if topic.isEmpty { throw CLIFailure(.usage, "sub: at least one -t TOPIC is required") }
        for filter in topic {
            do {
                try MQTTTopic.validateFilter(filter)
            } catch {
                throw CLIFailure(.usage, "sub: invalid topic filter '\(filter)': \(BrokerOptions.detail(error))")
            }
        }
        let qos = try BrokerOptions.qos(qos)
        let limit = try count.map { text throws(CLIFailure) in
            try BrokerOptions.integer(text, flag: "-C", in: 1...Int(Int32.max))
        }
        let seconds = try timeout.map { text throws(CLIFailure) in
            try BrokerOptions.integer(text, flag: "-W", in: 1...2_147_483)
        }
        let resolved = try broker.resolve(role: "sub")

        let client = try await broker.connect(resolved, role: "sub")
        let deadline = seconds.map { ContinuousClock.now + .seconds($0) }
        let stream: MQTTMessageStream
        do {
            stream = try await client.subscribe(
                to: topic.map { MQTTSubscription(topicFilter: $0, options: .init(qos: qos)) })
        } catch {
            await client.disconnect()
            throw BrokerOptions.brokerFailure(
                error, doing: "sub: subscribe to \(topic.joined(separator: ", "))", endpoint: resolved.endpoint,
                version: resolved.configuration.protocolVersion)
        }
        if broker.debug {
            let granted = zip(topic, stream.grantedReasonCodes).map { "\($0) (QoS \($1.rawValue))" }
            printError("mqtt-seal sub: subscribed to \(granted.joined(separator: ", "))")
        }

        let printer = Printer(verbose: verbose, newline: !noNewline)
        let skipRetained = skipRetained
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var received = 0
                    for try await message in stream {
                        if skipRetained && message.retain { continue }
                        guard let payload = try step.incoming(message) else { continue }
                        do throws(StandardStreams.WriteFailure) {
                            try printer.print(topic: message.topic, payload: payload)
                        } catch .closed {
                            return
                        } catch .failed(let code) {
                            throw CLIFailure(.ioError, "sub: cannot write to stdout (errno \(code))")
                        }
                        received += 1
                        if let limit, received >= limit { return }
                    }
                    throw CLIFailure(.ioError, "sub: connection to \(resolved.endpoint) ended")
                }
                if let seconds, let deadline {
                    group.addTask {
                        try await Task.sleep(until: deadline, clock: .continuous)
                        throw CLIFailure(.timedOut, "sub: timed out after \(seconds) s (-W)")
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await client.disconnect()
            throw BrokerOptions.brokerFailure(
                error, doing: "sub", endpoint: resolved.endpoint,
                version: resolved.configuration.protocolVersion)
        }
        await client.disconnect()
    }
}

/// Formats one message as `mosquitto_sub` does (`-v`: topic, space, payload) and writes it in one call.
struct Printer: Sendable {
    let verbose: Bool
    let newline: Bool

    func print(topic: String, payload: ByteBuffer) throws(StandardStreams.WriteFailure) {
        var line: [UInt8] = []
        line.reserveCapacity(payload.readableBytes + (verbose ? topic.utf8.count + 1 : 0) + 1)
        if verbose {
            line += topic.utf8
            line.append(UInt8(ascii: " "))
        }
        payload.withUnsafeReadableBytes { line += $0 }
        if newline { line.append(UInt8(ascii: "\n")) }
        try StandardStreams.writeOut(line)
    }
}

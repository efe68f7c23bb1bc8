import ArgumentParser
import Foundation
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT

/// `mqtt-seal pub`: publishes like `mosquitto_pub`, sealing every payload with the keyring (or in clear with
/// `--plain`).
struct PubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub",
        abstract: "Publish messages to an MQTT broker (flags as mosquitto_pub).",
        discussion: """
            Every payload is sealed with the keyring (--keyring, default ./mqtt-seal.keyring): the primary key \
            whose topic filter matches the topic best, signed by the topic's own signing identity when the \
            keyring has one (or by --sign-as NAME). --plain sends in clear instead.

            Exactly one of -m, -f, -l, -s or -n says what to send. With -l every line of stdin is one message, \
            sent as it is read (an empty line is an empty message, as in mosquitto_pub 2.0); at QoS 1 and 2 \
            the lines are pipelined in order and the command exits once all are acknowledged. With --store DIR (and -c \
            and -i) a line is accepted once it is in the on-disk session store: a pub killed or rebooted mid-stream \
            and started again with the same -i and --store sends what it had accepted first (-d reports every stored \
            line). The default protocol is \
            MQTT 3.1.1, as in mosquitto_pub; the port is 1883, or 8883 when --cafile or --tls-use-os-certs \
            turns TLS on. Help is --help only: -h is the host.

            Exit codes: 0 sent; 64 usage (bad or conflicting flags, invalid topic, an argument that is not \
            UTF-8); 65 the input is larger than --max-packet-size or a TLS file is malformed; 66 the -f, \
            --cafile, --cert or --key file is missing, unreadable or (-f) not a regular file; 74 the broker is \
            unreachable, TLS failed, or the connection was lost with --no-reconnect (or while a QoS 0 message \
            was due: QoS 0 is not kept for a reconnect); 76 the broker answered a QoS 2 publish with \
            PUBACK (it supports QoS 1 at most); 73 the --store folder cannot be used (in use by another process, \
            damaged, or kept for another client id); 77 the broker refused the credentials or the publish (not \
            authorised).
            """,
        helpNames: [.long]
    )

    @OptionGroup var broker: BrokerOptions

    @OptionGroup var sealing: SealingOptions

    @Option(help: ArgumentHelp("Sign with the keyring's signing identity of this name.", valueName: "name"))
    var signAs: String?

    @Option(name: [.customShort("t"), .long], help: "The topic to publish to (no wildcards).")
    var topic: String?

    @Option(name: [.customShort("m"), .long], help: "Send this text as one message.")
    var message: String?

    @Option(name: [.customShort("f"), .long], help: "Send the contents of this file as one message.")
    var file: String?

    @Flag(name: [.customShort("l"), .customLong("stdin-line")], help: "Send each line of stdin as one message.")
    var stdinLine = false

    @Flag(name: [.customShort("s"), .customLong("stdin-file")], help: "Send all of stdin as one message.")
    var stdinFile = false

    @Flag(name: [.customShort("n"), .customLong("null-message")], help: "Send one empty (zero-length) message.")
    var nullMessage = false

    @Option(
        name: .customLong("repeat"),
        help: ArgumentHelp(
            "Send the message (-m, -f, -s or -n) this many times (1-1000000), as mosquitto_pub's --repeat.",
            valueName: "count"))
    var repeatCount: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Seconds between repeats (fractions allowed, 0-3600).", valueName: "seconds"))
    var repeatDelay: String?

    @Option(name: [.customShort("q"), .long], parsing: .unconditional, help: "The QoS: 0, 1 or 2.")
    var qos: String = "0"

    @Flag(name: [.customShort("r"), .long], help: "Ask the broker to retain the message.")
    var retain = false

    /// What to send.
    enum Source {
        case message([UInt8])
        case lines
    }

    func run() async throws {
        try await runReportingFailures {
            switch try sealing.mode(role: "pub") {
            case .plain:
                if signAs != nil { throw CLIFailure(.usage, "pub: --sign-as needs a keyring, not --plain") }
                try await publish { _ in PlaintextStep() }
            case .sealed(let location):
                let watcher = try location.watch { _ in }
                let keys: any SealingKeySource = signAs.map { NamedIdentityKeys(keys: watcher, name: $0) } ?? watcher
                var configuration = SealedMQTTConfiguration(logger: BrokerOptions.logger(debug: broker.debug))
                if signAs != nil {
                    do throws(SealedMQTTError) {
                        try configuration.policy.setDefault(SealedTopicPolicy(signing: .always))
                    } catch {
                        throw CLIFailure(.usage, "pub: \(error.message)")
                    }
                }
                // Refuse a topic the keyring cannot seal for before touching the broker (a fleet device may receive
                // its keys only once connected).
                let follower = try sealing.follower(location, debug: broker.debug)
                if follower == nil, let topic, (try? MQTTTopic.validateName(topic)) != nil {
                    do throws(KeyringError) {
                        _ = try keys.sealer(for: topic, signing: signAs == nil ? .whenAvailable : .always)
                    } catch {
                        throw CLIFailure(keyringError: error, invalidArgument: .usage)
                    }
                }
                let retain = retain
                try await publish(
                    around: { client, body in
                        try await follower.during(client: client, reload: { _ = watcher.checkNow() }, body)
                    }
                ) { client in
                    SealingStep(
                        sealed: SealedMQTTClient(client: client, keys: keys, configuration: configuration),
                        retain: retain)
                }
            }
        }
    }

    /// Checks the flags, reads the input, connects and publishes through the step `makeStep` returns for the
    /// connected client.
    func publish<Step: PayloadStep>(
        around: ((MQTTClient, () async throws -> Void) async throws -> Void)? = nil, makeStep: (MQTTClient) -> Step
    ) async throws {
        let chosen = [
            ("-m", message != nil), ("-f", file != nil), ("-l", stdinLine), ("-s", stdinFile), ("-n", nullMessage),
        ].filter(\.1).map(\.0)
        if chosen.count > 1 {
            throw CLIFailure(.usage, "pub: use only one of \(chosen.joined(separator: ", "))")
        }
        if chosen.isEmpty { throw CLIFailure(.usage, "pub: say what to send with -m, -f, -l, -s or -n") }
        let resolved = try broker.resolve(role: "pub")
        if self.topic != nil && resolved.urlTopic != nil {
            throw CLIFailure(.usage, "pub: -L names the topic; leave out -t")
        }
        guard let topic = self.topic ?? resolved.urlTopic else {
            throw CLIFailure(.usage, "pub: -t TOPIC (or -L URL) is required")
        }
        let properties = resolved.properties.publish
        do {
            try MQTTTopic.validateName(topic)
        } catch {
            throw CLIFailure(
                .usage, "pub: invalid topic \(BrokerOptions.quoted(topic)): \(BrokerOptions.detail(error))")
        }
        let qos = try BrokerOptions.qos(qos)
        let repeats = try repeatCount.map { text throws(CLIFailure) in
            try BrokerOptions.integer(text, flag: "--repeat", in: 1...1_000_000)
        }
        let pause = try repeatDelay.map { text throws(CLIFailure) -> Duration in
            guard let seconds = Double(text), seconds.isFinite, (0...3600).contains(seconds) else {
                throw CLIFailure(
                    .usage, "--repeat-delay takes seconds from 0 to 3600, not \(BrokerOptions.quoted(text))")
            }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        if stdinLine && (repeats != nil || pause != nil) {
            throw CLIFailure(.usage, "pub: --repeat and --repeat-delay apply to one message (-m, -f, -s, -n), not -l")
        }
        if pause != nil && repeats == nil { throw CLIFailure(.usage, "pub: --repeat-delay needs --repeat") }
        let limit = resolved.configuration.maximumPacketSize

        // Read files and stdin before connecting, so that a missing file never touches the broker.
        let source: Source
        if let message {
            source = .message(Array(message.utf8))
        } else if let file {
            try BrokerOptions.checkReadable(file, flag: "-f")
            try BrokerOptions.checkRegularFile(file, flag: "-f", limit: limit)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIFailure(.noInput, "-f \(file): cannot read it")
            }
            if data.count > limit { throw CLIFailure(.dataError, "-f \(file): larger than \(limit) bytes") }
            source = .message(Array(data))
        } else if stdinFile {
            source = .message(try StandardStreams.readAll(limit: limit))
        } else if nullMessage {
            source = .message([])
        } else {
            source = .lines
        }

        let client = try await broker.connect(resolved, role: "pub")
        let step = makeStep(client)
        var sent = 0
        let around = around ?? { _, body in try await body() }
        do {
            try await around(client) {
                switch source {
                case .message(let bytes):
                    // Each repeat is sealed afresh (a new sequence number): a reader's replay guard keeps every one.
                    for index in 0..<(repeats ?? 1) {
                        if index > 0, let pause { try await Task.sleep(for: pause) }
                        let payload = try step.outgoing(ByteBuffer(bytes: bytes), topic: topic)
                        try await client.publish(
                            to: topic, payload: payload, qos: qos, retain: retain, properties: properties)
                        sent += 1
                    }
                case .lines where qos == .atMostOnce:
                    try await StandardStreams.forEachLine(limit: limit) { bytes in
                        let payload = try step.outgoing(ByteBuffer(bytes: bytes), topic: topic)
                        try await client.publish(
                            to: topic, payload: payload, qos: qos, retain: retain, properties: properties)
                        sent += 1
                    }
                case .lines:
                    // QoS 1/2: pipelined, in line order (see SerialTaskExecutor), at most `window` not yet taken (with
                    // --store: not yet stored) or unacknowledged (without).
                    let executor = SerialTaskExecutor()
                    let window = 256
                    let retain = retain
                    let stored = resolved.configuration.sessionStore != nil
                    let report = broker.debug && stored
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        var running = 0
                        try await StandardStreams.forEachLine(limit: limit) { bytes in
                            if running >= window {
                                try await group.next()
                                running -= 1
                            }
                            let payload = try step.outgoing(ByteBuffer(bytes: bytes), topic: topic)
                            sent += 1
                            let line = sent
                            group.addTask(executorPreference: executor) {
                                if stored {
                                    // Accepted once in the store: a crash from here on loses nothing.
                                    try await client.enqueue(
                                        to: topic, payload: payload, qos: qos, retain: retain, properties: properties)
                                    if report { printError("mqtt-seal pub: stored line \(line)") }
                                } else {
                                    _ = try await client.publish(
                                        to: topic, payload: payload, qos: qos, retain: retain, properties: properties)
                                }
                            }
                            running += 1
                        }
                        try await group.waitForAll()
                    }
                    if stored { try await client.waitUntilAcknowledged() }
                }
            }
        } catch {
            await client.disconnect()
            throw BrokerOptions.brokerFailure(
                error, doing: "pub: publish to \(topic)", endpoint: resolved.endpoint,
                version: resolved.configuration.protocolVersion)
        }
        await client.disconnect()
        if broker.debug { printError("mqtt-seal pub: sent \(sent) message\(sent == 1 ? "" : "s") to \(topic)") }
    }
}

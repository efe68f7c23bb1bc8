import ArgumentParser
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization

/// `mqtt-seal sub`: subscribes and prints like `mosquitto_sub`, opening and verifying every payload with the keyring
/// (or in clear with `--plain`).
struct SubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe to topics and print the messages (flags as mosquitto_sub).",
        discussion: """
            Every message is opened and verified with the keyring (--keyring, default ./mqtt-seal.keyring, \
            reloaded when the file changes); only verified payloads are printed (with -v: the topic, the sender \
            and the payload). A rejected message is not printed: one line on stderr says why \
            (mqtt-seal sub: rejected TOPIC: REASON). --require-signature and --allow-signer SID narrow what is \
            accepted; --allow-plaintext FILTER lets clear payloads through on those topics. --plain prints \
            every payload as received, without verification.

            Prints each message's payload on one line of stdout (with -v: the topic, a space, the payload), \
            exactly as received, one write per message. Several -t filters share one subscription at the \
            -q QoS. Retained messages are printed (and counted by -C) unless -R is given. -C COUNT exits 0 \
            after COUNT messages; -W SECONDS exits 75 if the command is still running that long after \
            connecting (like mosquitto_sub's -W, which exits 27). A lost connection is made again with \
            backoff and jitter, resuming the session (with -c and QoS 1/2 the broker keeps what arrives \
            meanwhile); --no-reconnect exits 74 instead. The default protocol is MQTT 3.1.1, as in mosquitto_sub; the port is 1883, or \
            8883 when --cafile or --tls-use-os-certs turns TLS on. Help is --help only: -h is the host.

            Exit codes: 0 -C messages received (or stdout was closed); 64 usage (bad or conflicting flags, \
            invalid topic filter); 65 a TLS file is malformed; 66 a --cafile, --cert or --key file is \
            missing or unreadable; 74 the broker is unreachable, TLS failed, (with --no-reconnect) the connection was lost, or \
            --metrics-port cannot listen; \
            73 the --store folder cannot be used (in use by another process, damaged, or kept for another client \
            id); 75 -W ran out; 77 the broker refused the credentials or the subscription (not authorised).
            """,
        helpNames: [.long]
    )

    @OptionGroup var broker: BrokerOptions

    @OptionGroup var sealing: SealingOptions

    @Flag(help: "Accept only signed messages.")
    var requireSignature = false

    @Option(
        help: ArgumentHelp(
            "Accept only messages signed by this signer (8 hex digits; repeat for several).", valueName: "sid"))
    var allowSigner: [String] = []

    @Option(
        help: ArgumentHelp(
            "Let payloads in clear through on topics matching this filter (repeat for several).", valueName: "filter"))
    var allowPlaintext: [String] = []

    @Option(name: [.customShort("t"), .long], help: "A topic filter to subscribe to (repeat for several).")
    var topic: [String] = []

    @Option(name: [.customShort("q"), .long], parsing: .unconditional, help: "The subscription QoS: 0, 1 or 2.")
    var qos: String = "0"

    @Option(
        name: [.customShort("C"), .long], parsing: .unconditional, help: "Exit after this many messages (1 or more).")
    var count: String?

    @Option(
        name: [.customShort("W"), .long], parsing: .unconditional,
        help: "Exit 75 after this many seconds (1-2147483), counted from the connection.")
    var timeout: String?

    @Flag(name: [.customShort("v"), .long], help: "Print the topic, a space, then the payload.")
    var verbose = false

    @Flag(name: [.customShort("N")], help: "Do not print a newline after each payload.")
    var noNewline = false

    @Option(
        name: [.customShort("F"), .customLong("format")],
        help: ArgumentHelp(
            "Print each message in this format, as mosquitto_sub -F (it takes the place of -v).",
            discussion:
                "%t topic, %p payload, %x/%X payload in hex, %q QoS, %r retain, %l length, %m packet id, %I ISO 8601 "
                + "time, %U Unix time, %j JSON (payload as a string), %J JSON (payload as JSON), %%; MQTT 5: %A %C %D "
                + "%E %F %P %R %S. Flags - and 0, a width and a precision: %-10t, %05l, %.8p. @H etc. are strftime's; "
                + "\\n \\t \\r \\0 \\\\ are escapes.",
            valueName: "format"))
    var format: String?

    @Flag(help: "With -F %j or %J, print the JSON over several indented lines.")
    var pretty = false

    @Option(
        name: [.customShort("U"), .customLong("unsubscribe")],
        help: ArgumentHelp(
            "Unsubscribe from this filter once connected (e.g. to end a -c session's old subscription).",
            valueName: "filter"))
    var unsubscribe: [String] = []

    @Flag(help: "Clear every retained message received: publish an empty retained message to its topic (QoS 1).")
    var removeRetained = false

    @Option(
        help: ArgumentHelp(
            "Serve the sealed client's counters as Prometheus text on http://127.0.0.1:PORT/metrics.",
            valueName: "port"))
    var metricsPort: String?

    @OptionGroup var selection: SubSelectionOptions

    func run() async throws {
        try await runReportingFailures {
            switch try sealing.mode(role: "sub") {
            case .plain:
                if requireSignature || !allowSigner.isEmpty || !allowPlaintext.isEmpty || metricsPort != nil {
                    throw CLIFailure(
                        .usage,
                        "sub: --require-signature, --allow-signer, --allow-plaintext and --metrics-port need a keyring")
                }
                try await receive(step: PlaintextStep())
            case .sealed(let location):
                try await MetricsEndpoint.serving(port: metricsPort) { try await receiveSealed(location) }
            }
        }
    }

    /// The checked flags shared by both modes.
    struct Checked {
        let topics: [String]
        let printer: Printer
        let qos: MQTTQoS
        let limit: Int?
        let seconds: Int?
        let resolved: BrokerOptions.Resolved
        let selection: SubSelection
    }

    /// Checks the flags, connects, subscribes and prints every message that `step` lets through.
    func receive(step: some PayloadStep) async throws {
        try await receivePlain(step: step, try check())
    }

    /// Validates the topic filters, QoS, -C and -W, and resolves the broker options.
    func check() throws(CLIFailure) -> Checked {
        let resolved = try broker.resolve(role: "sub")
        let topics = broker.topics(topic, resolved: resolved)
        if topics.isEmpty { throw CLIFailure(.usage, "sub: at least one -t TOPIC (or -L URL) is required") }
        for filter in topics + unsubscribe {
            do {
                try MQTTTopic.validateFilter(filter)
            } catch {
                throw CLIFailure(
                    .usage, "sub: invalid topic filter \(BrokerOptions.quoted(filter)): \(BrokerOptions.detail(error))")
            }
        }
        if pretty && format == nil { throw CLIFailure(.usage, "sub: --pretty applies to -F %j and %J") }
        let outputFormat = try format.map { text throws(CLIFailure) in try OutputFormat(text, pretty: pretty) }
        let qos = try BrokerOptions.qos(qos)
        let limit = try count.map { text throws(CLIFailure) in
            try BrokerOptions.integer(text, flag: "-C", in: 1...Int(Int32.max))
        }
        let seconds = try timeout.map { text throws(CLIFailure) in
            try BrokerOptions.integer(text, flag: "-W", in: 1...2_147_483)
        }
        return Checked(
            topics: topics, printer: Printer(verbose: verbose, newline: !noNewline, format: outputFormat), qos: qos,
            limit: limit, seconds: seconds, resolved: resolved, selection: try selection.selection())
    }

    /// Opens, verifies and prints through a ``SealedMQTTClient``: verified payloads on stdout, rejections on stderr.
    func receiveSealed(_ location: KeyringLocation) async throws {
        let checked = try check()
        let policy = try sealedPolicy()
        let watcher = try location.watch { event in
            if case .rejected(let error) = event {
                printError("mqtt-seal sub: keyring change ignored (the previous version stays): \(error.message)")
            }
        }
        let configuration = SealedMQTTConfiguration(policy: policy, logger: BrokerOptions.logger(debug: broker.debug))
        let client = try await broker.connect(checked.resolved, role: "sub")
        let sealed = SealedMQTTClient(client: client, keys: watcher, configuration: configuration)
        let follower = try sealing.follower(location, debug: broker.debug)
        try await follower.during(client: client, reload: { _ = watcher.checkNow() }) {
            let deadline = checked.seconds.map { ContinuousClock.now + .seconds($0) }
            let endpoint = checked.resolved.endpoint
            let version = checked.resolved.configuration.protocolVersion
            // One SUBSCRIBE for every -t, like mosquitto_sub: a message matching several filters prints once.
            let topics = checked.topics
            let properties = checked.resolved.properties
            let stream: SealedMessageStream
            do throws(SealedMQTTError) {
                stream = try await sealed.subscribe(to: topics, qos: checked.qos, properties: properties.subscribe)
                for filter in unsubscribe { try await sealed.unsubscribe(filter, properties: properties.unsubscribe) }
            } catch {
                await sealed.disconnect()
                throw BrokerOptions.brokerFailure(
                    error.mqttError ?? error, doing: "sub: subscribe to \(topics.joined(separator: ", "))",
                    endpoint: endpoint, version: version)
            }
            let streams = [stream]
            if broker.debug {
                printError(
                    "mqtt-seal sub: subscribed to \(topics.joined(separator: ", ")) (sealed, keyring \(location.path))")
            }
            if selection.exitWhenSubscribed {
                await sealed.disconnect()
                return
            }
            let rejections = await sealed.rejections()
            let printer = SealedPrinter(printer: checked.printer, keys: watcher, limit: checked.limit)
            let remover = removeRetained ? RetainedRemover(client: client) : nil
            let choice = checked.selection
            let debug = broker.debug
            try await runReaders(checked, deadline: deadline, disconnect: { await sealed.disconnect() }) { group in
                // The keyring poller and the rejection printer end only when the readers are done (cancellation):
                // the end of the rejection stream (the client going away) is reported by the readers instead.
                group.addTask {
                    await watcher.run()
                    try await Self.untilCancelled()
                }
                let removing = removeRetained
                group.addTask {
                    for await rejection in rejections {
                        // --retained-only: a live message, even one refused, ends the retained ones.
                        if choice.retainedOnly && !rejection.retain { return }
                        if rejection.reason.isDuplicate && !debug { continue }
                        // --remove-retained: the broker forwards our own empty (deleting) publishes; not forgeries.
                        if removing && rejection.payloadBytes == 0 && !debug { continue }
                        printError("mqtt-seal sub: rejected \(rejection.topic): \(rejection.reason)")
                    }
                    try await Self.untilCancelled()
                }
                for stream in streams {
                    group.addTask {
                        for try await message in stream {
                            switch choice.verdict(topic: message.topic, retain: message.retain) {
                            case .stop: return
                            case .skip: continue
                            case .print:
                                if message.retain { try await remover?.remove(message.topic) }
                                if try printer.print(message) { return }
                            }
                        }
                        throw CLIFailure(.ioError, "sub: connection to \(endpoint) ended")
                    }
                }
            }
        }
    }

    /// Runs the reader tasks `addReaders` adds, with the `-W` deadline, in one group: the first task to finish
    /// (a reader reaching `-C`, or a failure) ends the others. Then disconnects; a failure becomes one line.
    private func runReaders(
        _ checked: Checked, deadline: ContinuousClock.Instant?, disconnect: () async -> Void,
        _ addReaders: (inout ThrowingTaskGroup<Void, any Error>) -> Void
    ) async throws {
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                addReaders(&group)
                if let seconds = checked.seconds, let deadline {
                    group.addTask {
                        try await Task.sleep(until: deadline, clock: .continuous)
                        throw CLIFailure(.timedOut, "sub: timed out after \(seconds) s (-W)")
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await disconnect()
            let cause = (error as? SealedMQTTError)?.mqttError ?? error
            throw BrokerOptions.brokerFailure(
                cause, doing: "sub", endpoint: checked.resolved.endpoint,
                version: checked.resolved.configuration.protocolVersion)
        }
        await disconnect()
    }

    /// Suspends until the task is cancelled, then throws `CancellationError`.
    static func untilCancelled() async throws {
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    /// The receive policy from `--require-signature`, `--allow-signer` and `--allow-plaintext`.
    func sealedPolicy() throws(CLIFailure) -> SealedPolicy {
        var signers: Set<UInt32> = []
        for text in allowSigner { signers.insert(try KeyringArgument.id(text)) }
        do throws(SealedMQTTError) {
            var policy = try SealedPolicy(
                default: SealedTopicPolicy(
                    requiresSignature: requireSignature, allowedSigners: signers.isEmpty ? nil : signers))
            for filter in allowPlaintext { try policy.set(.plaintext, for: filter) }
            return policy
        } catch {
            throw CLIFailure(.usage, "sub: \(error.message)")
        }
    }

    /// Connects, subscribes and prints through `step` (the `--plain` path).
    private func receivePlain(step: some PayloadStep, _ checked: Checked) async throws {
        let (qos, limit, seconds, resolved) = (checked.qos, checked.limit, checked.seconds, checked.resolved)
        let client = try await broker.connect(resolved, role: "sub")
        let deadline = seconds.map { ContinuousClock.now + .seconds($0) }
        let stream: MQTTMessageStream
        do {
            stream = try await client.subscribe(
                to: checked.topics.map { MQTTSubscription(topicFilter: $0, options: .init(qos: qos)) },
                properties: resolved.properties.subscribe)
            for filter in unsubscribe {
                try await client.unsubscribe([filter], properties: resolved.properties.unsubscribe)
            }
        } catch {
            await client.disconnect()
            throw BrokerOptions.brokerFailure(
                error, doing: "sub: subscribe to \(checked.topics.joined(separator: ", "))",
                endpoint: resolved.endpoint,
                version: resolved.configuration.protocolVersion)
        }
        if broker.debug {
            let granted = zip(checked.topics, stream.grantedReasonCodes).map { "\($0) (QoS \($1.rawValue))" }
            printError("mqtt-seal sub: subscribed to \(granted.joined(separator: ", "))")
        }

        if selection.exitWhenSubscribed {
            await client.disconnect()
            return
        }
        let printer = checked.printer
        let remover = removeRetained ? RetainedRemover(client: client) : nil
        let choice = checked.selection
        try await runReaders(checked, deadline: deadline, disconnect: { await client.disconnect() }) { group in
            group.addTask {
                var received = 0
                for try await message in stream {
                    switch choice.verdict(topic: message.topic, retain: message.retain) {
                    case .stop: return
                    case .skip: continue
                    case .print: break
                    }
                    guard let payload = try step.incoming(message) else { continue }
                    if message.retain { try await remover?.remove(message.topic) }
                    do throws(StandardStreams.WriteFailure) {
                        try printer.print(label: message.topic, payload: payload) {
                            PrintedMessage(
                                topic: message.topic, payload: Array(buffer: payload), qos: message.qos,
                                retain: message.retain, packetIdentifier: message.packetIdentifier,
                                properties: message.properties)
                        }
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
        }
    }
}

/// `--remove-retained`: clears a retained message by publishing an empty retained message to its topic at QoS 1,
/// as mosquitto_sub does (an empty payload needs no envelope: it carries nothing to protect).
struct RetainedRemover: Sendable {
    let client: MQTTClient

    func remove(_ topic: String) async throws {
        try await client.publish(to: topic, payload: ByteBuffer(), qos: .atLeastOnce, retain: true)
    }
}

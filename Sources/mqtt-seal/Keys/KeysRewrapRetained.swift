import ArgumentParser
import Foundation
import MQTT
import NIOCore
import Seal
import SealKeyring
import Synchronization

/// `mqtt-seal keys rewrap-retained --topics F`: re-seals, under the current primary key, the retained messages an
/// older key protects, so that they survive the old key's destruction.
struct KeysRewrapRetained: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrap-retained",
        abstract: "Re-seal retained messages an older key protects under the current primary key.",
        discussion: """
            Subscribes to --topics (comma-separated MQTT filters) and collects the retained messages the broker \
            sends, until none has arrived for --wait seconds. Each one is opened with the keyring (a retained copy \
            may be up to 24 h old, as for every reader). One sealed with a key that is no longer its topic's \
            primary is sealed afresh with the primary, for a retained publish, and published retained at QoS 1 in \
            its place. Signed messages (encrypt+sign, sign-only) are listed, not re-signed: only their signer can \
            sign them; have it publish again. Run it after `keys rotate` and before `keys destroy` of the old key.

            One line per retained message on stdout: rewrapped TOPIC OLD -> NEW, current TOPIC KID, signed TOPIC \
            (not re-signed), unreadable TOPIC: REASON (not opened: unknown or destroyed key, stale, forged), \
            skipped TOPIC: not an envelope. A summary goes to stderr.

            Exit codes: 0 every envelope was current, rewrapped or listed; 1 some were unreadable; 64 usage; 65/66/77 \
            keyring errors as in the other keys commands; 74 the broker is unreachable or the connection was lost; \
            77 the broker refused the credentials or the subscription.
            """
    )

    @OptionGroup var options: KeyringOptions

    @Option(
        help: ArgumentHelp(
            "The MQTT topic filters whose retained messages to rewrap (comma-separated).", valueName: "filters"))
    var topics: String

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds without a retained message after which collecting ends (1-60).", valueName: "seconds"))
    var wait: String = "2"

    @Flag(help: "List what would be rewrapped; publish nothing.")
    var dryRun = false

    @OptionGroup var broker: BrokerOptions

    /// What became of one retained message.
    enum Outcome: Equatable {
        case rewrapped(from: UInt32, to: UInt32)
        case current(UInt32)
        case signed(keyID: UInt32, signer: UInt32)
        case unreadable(String)
        case notEnvelope
    }

    func run() async throws {
        try await runReportingFailures {
            let scope = try KeyringArgument.scope(topics)
            let quiet = try BrokerOptions.integer(wait, flag: "--wait", in: 1...60)
            let keyring = try options.load()
            let snapshot = KeyringSnapshot(keyring)
            let resolved = try broker.resolve(role: "rewrap")
            let client = try await broker.connect(resolved, role: "keys rewrap-retained")
            let filters = scope.filters.map(\.string)
            let retained: [MQTTMessage]
            do {
                retained = try await Self.collect(client, filters: filters, quiet: .seconds(quiet))
            } catch {
                await client.disconnect()
                throw BrokerOptions.brokerFailure(
                    error, doing: "keys rewrap-retained: subscribe to \(filters.joined(separator: ", "))",
                    endpoint: resolved.endpoint, version: resolved.configuration.protocolVersion)
            }
            var counts: [String: Int] = [:]
            do {
                for message in retained.sorted(by: {
                    Array($0.topic.utf8).lexicographicallyPrecedes(Array($1.topic.utf8))
                }) {
                    let (outcome, envelope) = Self.examine(message, snapshot: snapshot)
                    if case .rewrapped = outcome, let envelope, !dryRun {
                        try await client.publish(
                            to: message.topic, payload: ByteBuffer(bytes: envelope), qos: .atLeastOnce, retain: true)
                    }
                    print(Self.line(message.topic, outcome, keyring: keyring, dryRun: dryRun))
                    counts[Self.kind(outcome), default: 0] += 1
                }
            } catch {
                await client.disconnect()
                throw BrokerOptions.brokerFailure(
                    error, doing: "keys rewrap-retained: publish", endpoint: resolved.endpoint,
                    version: resolved.configuration.protocolVersion)
            }
            await client.disconnect()
            let verb = dryRun ? "to rewrap" : "rewrapped"
            printError(
                "keys rewrap-retained: \(retained.count) retained, \(counts["rewrapped", default: 0]) \(verb), "
                    + "\(counts["current", default: 0]) current, \(counts["signed", default: 0]) signed (not re-signed), "
                    + "\(counts["unreadable", default: 0]) unreadable, \(counts["skipped", default: 0]) not envelopes")
            if counts["unreadable", default: 0] > 0 {
                throw ExitCode(ExitStatus.authenticationFailure.rawValue)
            }
        }
    }

    /// Subscribes at QoS 1 and gathers the retained messages until `quiet` passes without one (or a live message
    /// arrives: the retained ones come first).
    static func collect(_ client: MQTTClient, filters: [String], quiet: Duration) async throws -> [MQTTMessage] {
        let stream = try await client.subscribe(
            to: filters.map { MQTTSubscription(topicFilter: $0, options: .init(qos: .atLeastOnce)) })
        return try await withThrowingTaskGroup(of: [MQTTMessage]?.self) { group in
            let gathered = RetainedBox()
            group.addTask {
                for try await message in stream {
                    guard message.retain else { break }
                    gathered.append(message)
                }
                return nil
            }
            group.addTask {
                var seen = 0
                while true {
                    try await Task.sleep(for: quiet)
                    let count = gathered.count
                    if count == seen { return nil }
                    seen = count
                }
            }
            _ = try await group.next()
            group.cancelAll()
            return gathered.messages
        }
    }

    /// Opens one retained message and, when an older key sealed it without a signature, seals it afresh.
    static func examine(_ message: MQTTMessage, snapshot: KeyringSnapshot) -> (Outcome, [UInt8]?) {
        let bytes = Array(buffer: message.payload)
        guard bytes.withUnsafeBytes({ EnvelopeIdentity(envelope: $0) }) != nil else { return (.notEnvelope, nil) }
        let opened: OpenedMessage
        do throws(SealError) {
            opened = try Opener(keys: snapshot).open(bytes, topic: message.topic, retained: true)
        } catch {
            return (.unreadable("\(error.reason)"), nil)
        }
        if let signer = opened.signer { return (.signed(keyID: opened.keyID, signer: signer), nil) }
        let primary: KeyringKey
        do throws(KeyringError) {
            primary = try snapshot.primaryKey(for: message.topic)
        } catch {
            return (.unreadable("no primary key seals \(message.topic) now: \(error.message)"), nil)
        }
        if primary.kid == opened.keyID { return (.current(opened.keyID), nil) }
        let sealer: Sealer
        do throws(KeyringError) {
            sealer = try snapshot.sealer(for: message.topic)
        } catch {
            return (.unreadable("cannot seal it again: \(error.message)"), nil)
        }
        do throws(SealError) {
            let envelope = try sealer.seal(opened.payload, topic: message.topic, retain: true)
            return (.rewrapped(from: opened.keyID, to: primary.kid), envelope)
        } catch {
            return (.unreadable("cannot seal it again: \(error.message)"), nil)
        }
    }

    static func kind(_ outcome: Outcome) -> String {
        switch outcome {
        case .rewrapped: return "rewrapped"
        case .current: return "current"
        case .signed: return "signed"
        case .unreadable: return "unreadable"
        case .notEnvelope: return "skipped"
        }
    }

    static func line(_ topic: String, _ outcome: Outcome, keyring: Keyring, dryRun: Bool) -> String {
        switch outcome {
        case .rewrapped(let from, let to):
            return
                "\(dryRun ? "would rewrap" : "rewrapped") \(topic) \(KeyringID.format(from)) -> \(KeyringID.format(to))"
        case .current(let kid): return "current \(topic) \(KeyringID.format(kid))"
        case .signed(let kid, let sid):
            let name = keyring.signer(sid)?.name ?? keyring.identity(sid)?.name
            return
                "signed \(topic) \(KeyringID.format(kid)) by \(KeyringID.format(sid))\(name.map { " (\($0))" } ?? ""): "
                + "not re-signed, only its signer can sign it"
        case .unreadable(let reason): return "unreadable \(topic): \(reason)"
        case .notEnvelope: return "skipped \(topic): not an envelope"
        }
    }
}

/// The retained messages gathered so far, shared by the reader and the quiet-period timer.
final class RetainedBox: Sendable {
    private let state = Mutex<[MQTTMessage]>([])

    func append(_ message: MQTTMessage) { state.withLock { $0.append(message) } }
    var count: Int { state.withLock { $0.count } }
    var messages: [MQTTMessage] { state.withLock { $0 } }
}

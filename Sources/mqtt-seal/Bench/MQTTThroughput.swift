import Foundation
import Logging
import MQTT
import NIOCore
import Seal
import SealKeyring
import SealedMQTT
import Synchronization

/// One throughput run: a publisher and a subscriber client, `count` messages of `size` bytes at one QoS.
struct MQTTThroughput: Sendable {
    /// What `bench-mqtt` measures.
    struct Plan: Sendable {
        var version: MQTTProtocolVersion
        var qosLevels: [MQTTQoS]
        var sizes: [Int]
        var count: Int
        var timeLimit: Duration
        var maxInflight: Int
        var maxQueued: Int
        /// With a folder, QoS 1/2 runs are repeated with the publisher's session store in it (see ``StoreMode``).
        var storeFolder: String?
        /// Symmetric suites to measure sealed (`SealedMQTTClient` on both sides), each run right after the
        /// plaintext run of the same QoS and size, against the same broker.
        var sealedSuites: [Suite] = []
    }

    /// Whether the publisher keeps its session on disk during a run.
    enum StoreMode: String, Sendable, CaseIterable {
        /// No store (the in-memory session).
        case none
        /// ``MQTTSessionStoreOptions/Durability/processCrash``: written to the kernel, not flushed.
        case write
        /// ``MQTTSessionStoreOptions/Durability/synchronized``: flushed to the disk per batch.
        case sync
    }

    /// The figures of one run.
    struct Result: Sendable {
        var qos: MQTTQoS
        var size: Int
        var version: MQTTProtocolVersion
        var requested: Int
        var sent: Int
        var received: Int
        var unique: Int
        var duplicates: Int
        var publishSeconds: Double
        var receiveSeconds: Double
        var stoppedByTimeLimit: Bool
        var store: StoreMode
        /// The suite the run sealed with, or nil for plaintext.
        var sealing: Suite?

        var lost: Int { sent - unique }
        var publishRate: Double { publishSeconds > 0 ? Double(sent) / publishSeconds : 0 }
        var receiveRate: Double { receiveSeconds > 0 ? Double(received) / receiveSeconds : 0 }
        var megabytesPerSecond: Double { receiveRate * Double(size) / 1_000_000 }

        func report() {
            let version = version == .v5 ? "5" : "3.1.1"
            let limited = stoppedByTimeLimit ? " (stopped by --time-limit)" : ""
            let lossPercent = sent > 0 ? Double(lost) * 100 / Double(sent) : 0
            let stored = store == .none ? "" : ", session store (\(store.rawValue))"
            let sealed = sealing.map { ", sealed \($0.rawValue)" } ?? ""
            print(
                "run         QoS \(qos.rawValue), \(size) B payload, \(requested) messages, MQTT \(version)"
                    + "\(stored)\(sealed)")
            print(
                "  published \(sent) in \(fixed(publishSeconds, 3)) s: \(fixed(publishRate, 0)) msg/s\(limited)")
            print(
                "  received  \(received) in \(fixed(receiveSeconds, 3)) s: \(fixed(receiveRate, 0)) msg/s, "
                    + "\(fixed(megabytesPerSecond, 2)) MB/s")
            print("  lost      \(lost) (\(fixed(lossPercent, 3)) %), duplicates \(duplicates)")
            print(
                "result qos=\(qos.rawValue) size=\(size) protocol=\(version) sent=\(sent) received=\(received) "
                    + "lost=\(lost) duplicates=\(duplicates) seconds=\(fixed(receiveSeconds, 3)) "
                    + "msg_per_s=\(fixed(receiveRate, 0)) mb_per_s=\(fixed(megabytesPerSecond, 2)) "
                    + "publish_msg_per_s=\(fixed(publishRate, 0)) store=\(store.rawValue) "
                    + "mode=\(sealing?.rawValue ?? "plaintext")")
        }
    }

    let host: String
    let port: Int
    let plan: Plan
    let qos: MQTTQoS
    let size: Int
    var store = StoreMode.none
    /// Seal with a fresh in-memory key of this suite (nil: plaintext on the raw client).
    var sealing: Suite?

    /// Counters the receiver updates and the publisher side watches.
    final class Progress: Sendable {
        let received = Atomic<Int>(0)
        /// Nanoseconds since `origin` of the last arrival.
        let lastArrival = Atomic<Int64>(0)
        let origin = ContinuousClock.now

        func nanosecondsSinceOrigin() -> Int64 {
            let elapsed = ContinuousClock.now - origin
            return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        }
    }

    /// What the receiver saw.
    struct Tally: Sendable {
        var received = 0
        var unique = 0
        var duplicates = 0
    }

    func run() async throws(CLIFailure) -> Result {
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let topic = "bench/\(tag)/q\(qos.rawValue)/\(size)"
        let endpoint = "\(host):\(port)"
        let subscriber = try makeClient("mqtt-seal-bench-sub-\(tag)")
        let storeFolder = plan.storeFolder.map { $0 + "/bench-\(tag)" }
        defer { if let storeFolder { try? FileManager.default.removeItem(atPath: storeFolder) } }
        let publisher = try makeClient("mqtt-seal-bench-pub-\(tag)", storeFolder: storeFolder)
        let sealed = try sealing.map { suite throws(CLIFailure) in
            let keys = try Self.keys(suite)
            return (
                subscriber: SealedMQTTClient(client: subscriber, keys: keys, configuration: Self.sealedConfiguration),
                publisher: SealedMQTTClient(client: publisher, keys: keys, configuration: Self.sealedConfiguration)
            )
        }
        func disconnect() async {
            if let sealed {
                await sealed.subscriber.disconnect()
                await sealed.publisher.disconnect()
            } else {
                await subscriber.disconnect()
                await publisher.disconnect()
            }
        }
        do {
            if let sealed {
                try await sealed.subscriber.connect()
                try await sealed.publisher.connect()
            } else {
                try await subscriber.connect()
                try await publisher.connect()
            }
        } catch {
            await disconnect()
            throw BrokerOptions.connectFailure(error, endpoint: endpoint)
        }
        /// Subscribes, turning a refusal into the command's failure.
        func subscribed<Stream>(_ subscribe: () async throws -> Stream) async throws(CLIFailure) -> Stream {
            do {
                return try await subscribe()
            } catch {
                throw BrokerOptions.brokerFailure(
                    error, doing: "bench-mqtt: subscribe", endpoint: endpoint, version: plan.version)
            }
        }
        let result: Result
        do throws(CLIFailure) {
            if let sealed {
                let sealedPublisher = sealed.publisher
                let stream = try await subscribed { try await sealed.subscriber.subscribe(to: topic, qos: qos) }
                result = try await measure(stream, endpoint: endpoint) { payload in
                    _ = try await sealedPublisher.publish(to: topic, payload: payload, qos: qos)
                } sequence: { message in
                    message.payload.count >= 8
                        ? message.payload.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
                        : nil
                }
            } else {
                let stream = try await subscribed { try await subscriber.subscribe(to: topic, qos: qos) }
                result = try await measure(stream, endpoint: endpoint) { payload in
                    _ = try await publisher.publish(to: topic, payload: payload, qos: qos)
                } sequence: { message in
                    message.payload.getInteger(at: message.payload.readerIndex, as: UInt64.self)
                }
            }
        } catch {
            await disconnect()
            throw error
        }
        await disconnect()
        return result
    }

    /// A keyring in memory with one primary key of `suite` on every topic, shared by publisher and subscriber.
    private static func keys(_ suite: Suite) throws(CLIFailure) -> KeyringSnapshot {
        var keyring = Keyring()
        do {
            try keyring.promote(try keyring.addKey(suite: suite))
        } catch {
            throw CLIFailure(.usage, "bench-mqtt --sealed: \(error.message)")
        }
        return KeyringSnapshot(keyring)
    }

    /// Unsigned sealing on every topic; the sealed client's defaults otherwise, and a quiet logger.
    private static var sealedConfiguration: SealedMQTTConfiguration {
        var logger = Logger(label: "mqtt-seal.bench-mqtt")
        logger.logLevel = .critical
        // `SealedPolicy(default:)` of an unsigned policy cannot fail.
        let policy = (try? SealedPolicy(default: SealedTopicPolicy(signing: .never))) ?? .standard
        return SealedMQTTConfiguration(policy: policy, logger: logger)
    }

    /// Publishes `plan.count` messages through `publish` while a task reads `stream`, each message's sequence
    /// number taken by `sequence` (nil for payloads shorter than 8 bytes).
    private func measure<Stream: AsyncSequence & Sendable>(
        _ stream: Stream, endpoint: String, publish: @escaping @Sendable (ByteBuffer) async throws -> Void,
        sequence: @escaping @Sendable (Stream.Element) -> UInt64?
    ) async throws(CLIFailure) -> Result {
        let progress = Progress()
        let count = plan.count
        let receiver = Task { () -> Tally in
            var tally = Tally()
            var seen = [UInt64](repeating: 0, count: (count + 63) / 64)
            do {
                for try await message in stream {
                    tally.received += 1
                    if let sequence = sequence(message), let index = Int(exactly: sequence), index < count {
                        let bit = UInt64(1) << UInt64(index % 64)
                        if seen[index / 64] & bit != 0 {
                            tally.duplicates += 1
                        } else {
                            seen[index / 64] |= bit
                            tally.unique += 1
                        }
                    } else if size < 8 {
                        tally.unique += 1
                    }
                    progress.received.store(tally.received, ordering: .relaxed)
                    progress.lastArrival.store(progress.nanosecondsSinceOrigin(), ordering: .relaxed)
                }
            } catch {
                // Cancelled (the run is over) or the connection ended: report what arrived.
            }
            return tally
        }

        // Publish.
        let start = progress.nanosecondsSinceOrigin()
        let deadline = ContinuousClock.now + plan.timeLimit
        var sent = 0
        var stoppedByTimeLimit = false
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: max(0, size - 8))
        let allocator = ByteBufferAllocator()
        func payload(_ sequence: Int) -> ByteBuffer {
            var buffer = allocator.buffer(capacity: size)
            if size >= 8 {
                buffer.writeInteger(UInt64(sequence))
                buffer.writeBytes(filler)
            } else {
                buffer.writeRepeatingByte(UInt8(ascii: "x"), count: size)
            }
            return buffer
        }
        do {
            if qos == .atMostOnce {
                while sent < count {
                    if sent & 1023 == 0 && ContinuousClock.now >= deadline {
                        stoppedByTimeLimit = true
                        break
                    }
                    try await publish(payload(sent))
                    sent += 1
                }
            } else {
                let window = max(1, plan.maxInflight * 2)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var running = 0
                    while sent < count {
                        if ContinuousClock.now >= deadline {
                            stoppedByTimeLimit = true
                            break
                        }
                        if running >= window {
                            try await group.next()
                            running -= 1
                        }
                        let message = payload(sent)
                        group.addTask { try await publish(message) }
                        running += 1
                        sent += 1
                    }
                    try await group.waitForAll()
                }
            }
        } catch {
            receiver.cancel()
            throw BrokerOptions.brokerFailure(
                error, doing: "bench-mqtt: publish", endpoint: endpoint, version: plan.version)
        }
        let published = progress.nanosecondsSinceOrigin()

        // Wait (bounded) for the rest: until everything arrived or nothing arrived for a while.
        let idleLimit: Int64 = 3_000_000_000
        while progress.received.load(ordering: .relaxed) < sent {
            let now = progress.nanosecondsSinceOrigin()
            let last = max(progress.lastArrival.load(ordering: .relaxed), published)
            if now - last > idleLimit { break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        receiver.cancel()
        let tally = await receiver.value
        let lastArrival = progress.lastArrival.load(ordering: .relaxed)
        return Result(
            qos: qos, size: size, version: plan.version, requested: count, sent: sent, received: tally.received,
            unique: size < 8 ? min(tally.unique, sent) : tally.unique, duplicates: tally.duplicates,
            publishSeconds: Double(published - start) / 1e9,
            receiveSeconds: tally.received > 0 ? Double(lastArrival - start) / 1e9 : 0,
            stoppedByTimeLimit: stoppedByTimeLimit, store: store, sealing: sealing)
    }

    private func makeClient(_ id: String, storeFolder: String? = nil) throws(CLIFailure) -> MQTTClient {
        var configuration = MQTTClientConfiguration(host: host, port: port, protocolVersion: plan.version, clientID: id)
        if store != .none, let storeFolder {
            configuration.cleanStart = false
            configuration.sessionStore = MQTTSessionStoreOptions(
                directory: storeFolder, durability: store == .sync ? .synchronized : .processCrash)
        }
        configuration.reconnect = .disabled
        configuration.logger = BrokerOptions.logger(debug: false)
        configuration.connectTimeout = .seconds(10)
        configuration.inflightLimitForMQTT311 = plan.maxInflight
        do {
            return try MQTTClient(configuration: configuration)
        } catch {
            throw CLIFailure(.ioError, "bench-mqtt: \(BrokerOptions.detail(error))")
        }
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", value)
}

public import Logging
public import MQTT
import NIOCore
import NIOPosix
public import SealFleet
import SealKeyring
public import ServiceLifecycle
import Synchronization

/// Keeps a device's keys current from its fleet key slot (Specs/fleet.md §5), over the device's own MQTT
/// connection: it subscribes to `<prefix>/slot/<device>` (QoS 1, retained), applies each new slot atomically to the
/// device keyring, tells the key source to reload at once, and publishes a signed ack (retained). A device that finds no slot
/// sends a signed request. Refused slots are counted and logged; the device keeps its keys.
///
/// Run it beside the client (``SealedMQTTClient`` runs it for you when given one), or call ``process(_:)`` with
/// slots from elsewhere.
public final class FleetDeviceAgent: Sendable, Service {
    /// The device keyring.
    public let device: FleetDeviceKeyring
    /// The fleet topics.
    public let topics: FleetTopics
    /// The MQTT client the slot subscription, acks and requests use.
    public let client: MQTTClient
    /// How long to wait for a retained slot before asking for one.
    public let requestAfter: Duration

    private let deviceID: String
    private let onApplied: @Sendable () -> Void
    private let logger: Logger
    private let counters = Mutex(Statistics())

    /// What the agent did so far.
    public struct Statistics: Sendable, Hashable {
        /// Slots applied.
        public var applied = 0
        /// Redeliveries of the slot already applied.
        public var alreadyApplied = 0
        /// Refused slots by reason.
        public var rejected: [FleetError.SlotRejection: Int] = [:]
        /// Empty retained slots seen (the authority cleared the slot: the device was revoked).
        public var cleared = 0
        /// Requests sent.
        public var requests = 0
        /// The sequence applied last.
        public var sequence: UInt64 = 0
    }

    /// Creates an agent.
    ///
    /// - Parameters:
    ///   - client: the device's MQTT client (connected by its owner).
    ///   - device: the device keyring.
    ///   - topics: the fleet prefix.
    ///   - requestAfter: how long to wait for a retained slot before sending a request.
    ///   - logger: where applied and refused slots are logged.
    ///   - onApplied: called after each applied slot (for example `KeyringWatcher.checkNow`).
    /// - Throws: `FleetError` when the keyring is not a device keyring.
    public init(
        client: MQTTClient, device: FleetDeviceKeyring, topics: FleetTopics, requestAfter: Duration = .seconds(2),
        logger: Logger = Logger(label: "mqtt.sealed.fleet"), onApplied: @escaping @Sendable () -> Void = {}
    ) throws(FleetError) {
        let keyring = try device.load()
        self.client = client
        self.device = device
        self.topics = topics
        self.requestAfter = requestAfter
        self.deviceID = keyring.device!.id
        self.onApplied = onApplied
        self.logger = logger
        counters.withLock { $0.sequence = keyring.device!.sequence }
    }

    /// The counters so far.
    public var statistics: Statistics { counters.withLock { $0 } }

    /// Subscribes to the slot topic and returns the stream (the subscription exists when this returns, before the
    /// broker sends the retained slot). ``run()`` calls it; call it yourself to subscribe before other work.
    public func subscribe() async throws -> MQTTMessageStream {
        try await client.subscribe(to: topics.slot(deviceID), qos: .atLeastOnce)
    }

    /// `Service`: subscribes, asks for a slot when none arrives within ``requestAfter``, and applies slots until the
    /// stream ends or the task is cancelled.
    public func run() async throws {
        let stream = try await subscribe()
        try await follow(stream)
    }

    /// Applies the slots of a stream from ``subscribe()`` until it ends.
    public func follow(_ stream: MQTTMessageStream) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                try await Task.sleep(for: requestAfter)
                if counters.withLock({ $0.applied == 0 && $0.alreadyApplied == 0 }) {
                    try await sendReport(.request)
                }
            }
            for try await message in stream {
                try await process(Array(buffer: message.payload))
            }
            group.cancelAll()
        }
    }

    /// Processes one slot payload: applies it and acks, acks a redelivery, or counts and logs a refusal.
    public func process(_ payload: [UInt8]) async throws {
        if payload.isEmpty {
            counters.withLock { $0.cleared += 1 }
            logger.warning(
                "fleet slot cleared by the authority; keeping the current keys", metadata: ["device": "\(deviceID)"])
            return
        }
        let outcome: FleetDeviceKeyring.Outcome
        let ack: [UInt8]
        do {
            // The file lock and the fsyncs block: they run on a thread pool, not on Swift's cooperative threads.
            let device = self.device
            let result = try await BlockingWork.pool.runIfActive {
                Result { () throws(FleetError) in try device.applyAndAcknowledge(payload) }
            }
            (outcome, ack) = try result.get()
        } catch let error as FleetError {
            if let rejection = error.rejection {
                counters.withLock { $0.rejected[rejection, default: 0] += 1 }
                logger.error(
                    "fleet slot refused; keeping the current keys",
                    metadata: ["device": "\(deviceID)", "reason": "\(rejection.rawValue)", "error": "\(error.message)"])
            } else {
                logger.error(
                    "fleet slot not applied", metadata: ["device": "\(deviceID)", "error": "\(error.message)"])
            }
            return
        }
        // The hook typically reloads a keyring watcher: file I/O as well.
        if case .applied = outcome { await BlockingWork.run(onApplied) }
        // Counted once the ack is out, so a caller that waits for the count can disconnect at once.
        try await publish(ack, kind: .ack)
        switch outcome {
        case .applied(let sequence, let keys, let signers):
            counters.withLock {
                $0.applied += 1
                $0.sequence = sequence
            }
            logger.info(
                "fleet slot applied",
                metadata: [
                    "device": "\(deviceID)", "sequence": "\(sequence)", "keys": "\(keys)", "signers": "\(signers)",
                ])
        case .alreadyApplied:
            counters.withLock { $0.alreadyApplied += 1 }
        }
    }

    private func sendReport(_ kind: FleetReport.Kind) async throws {
        try await publish(try device.report(kind).payload, kind: kind)
    }

    private func publish(_ report: [UInt8], kind: FleetReport.Kind) async throws {
        let topic = kind == .ack ? topics.ack(deviceID) : topics.request(deviceID)
        // Acks are retained: the authority learns every device's state whenever it subscribes.
        try await client.publish(to: topic, payload: ByteBuffer(bytes: report), qos: .atLeastOnce, retain: kind == .ack)
        if kind == .request { counters.withLock { $0.requests += 1 } }
    }
}

public import Logging
public import MQTT
import Metrics
public import SealFleet
public import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mqtt-seal fleet serve`: the long-running side of the authority (Specs/fleet.md §7.3). It records the devices'
/// acks, answers slot requests (rate-limited, at most one answer per device per ``answerInterval``), destroys keys
/// whose grace has passed and publishes the slots that changed.
///
/// It works in rounds of ``flushInterval``: take the fleet lock (skipping the round when a fleet command holds
/// it), load the files, apply what arrived, save, release, publish. Fleet commands run beside it safely.
public final class FleetAuthorityService: Sendable, Service {
    /// The authority's files.
    public let store: FleetStore
    /// The MQTT client (connected by its owner).
    public let client: MQTTClient
    /// The fleet topics.
    public let topics: FleetTopics
    /// The most slot requests answered per second.
    public let requestsPerSecond: Int
    /// How often received reports are applied and changes published.
    public let flushInterval: Duration
    /// The least time between two answers to one device.
    public let answerInterval: Duration

    private let logger: Logger
    private let pending = Mutex(Pending())
    private let counters = Mutex(Statistics())
    private let metrics = FleetServiceMetrics()

    struct Pending {
        var reports: [[UInt8]] = []
        var requests: [String] = []
        var answered: [String: ContinuousClock.Instant] = [:]
    }

    /// What the service did so far.
    public struct Statistics: Sendable, Hashable {
        /// Valid acks recorded.
        public var acks = 0
        /// Requests answered with a slot.
        public var answered = 0
        /// Reports refused (malformed, unknown device, bad signature).
        public var refused = 0
        /// Slots published (answers and changes).
        public var published = 0
        /// Rounds skipped because a fleet command held the lock.
        public var skippedRounds = 0
    }

    /// Creates the service.
    public init(
        store: FleetStore, client: MQTTClient, topics: FleetTopics, requestsPerSecond: Int = 50,
        flushInterval: Duration = .seconds(1), answerInterval: Duration = .seconds(10),
        logger: Logger = Logger(label: "mqtt.sealed.fleet.serve")
    ) {
        self.store = store
        self.client = client
        self.topics = topics
        self.requestsPerSecond = max(1, requestsPerSecond)
        self.flushInterval = flushInterval
        self.answerInterval = answerInterval
        self.logger = logger
    }

    /// The counters so far.
    public var statistics: Statistics { counters.withLock { $0 } }

    /// `Service`: subscribes to the reports and runs rounds until cancelled or shut down gracefully; either ends
    /// it normally (the round in progress is not cut short by anything but the cancellation of its publish).
    public func run() async throws {
        let link = FleetAuthorityLink(client: client, topics: topics)
        let reports = try await link.reports()
        do {
            try await rounds(link, reports: reports)
        } catch is CancellationError where Task.isShuttingDownGracefully || Task.isCancelled {
            return
        }
    }

    private func rounds(_ link: FleetAuthorityLink, reports: MQTTMessageStream) async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [self] in
                    for try await message in reports {
                        let bytes = Array(buffer: message.payload)
                        pending.withLock { $0.reports.append(bytes) }
                    }
                }
                group.addTask { [self] in
                    while !Task.isCancelled {
                        try await Task.sleep(for: flushInterval)
                        try await round(link)
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// One round: apply reports, answer requests, publish changes.
    func round(_ link: FleetAuthorityLink) async throws {
        let taken = pending.withLock { state -> [[UInt8]] in
            defer { state.reports = [] }
            return state.reports
        }
        let lock: FleetLock
        do {
            lock = try store.lock(timeout: .milliseconds(50))
        } catch {
            pending.withLock { $0.reports.insert(contentsOf: taken, at: 0) }
            counters.withLock { $0.skippedRounds += 1 }
            metrics.skippedRounds.increment()
            return
        }
        defer { lock.release() }
        var authority = try store.load()
        var acks = 0
        var refused = 0
        var requests: [String] = []
        for bytes in taken {
            do {
                let report = try authority.record(report: bytes)
                if report.kind == .ack { acks += 1 } else { requests.append(report.device) }
            } catch {
                refused += 1
                logger.warning("fleet report refused", metadata: ["error": "\(error.message)"])
            }
        }
        let now = ContinuousClock.now
        let budget = requestsPerSecond * max(1, Int(flushInterval.components.seconds))
        let answer = pending.withLock { state -> [String] in
            state.requests += requests
            var chosen: [String] = []
            var rest: [String] = []
            for device in state.requests {
                if chosen.count >= budget || chosen.contains(device) {
                    if !chosen.contains(device) { rest.append(device) }
                    continue
                }
                if let last = state.answered[device], now - last < answerInterval { continue }
                chosen.append(device)
                state.answered[device] = now
            }
            state.requests = rest
            return chosen
        }
        var publications: [FleetAuthority.Publication] = []
        try authority.expireRetired()
        for device in answer {
            guard let member = authority.registry.member(device), member.state == .active, !member.isCurrent else {
                continue
            }
            if let publication = try authority.republish(device) { publications.append(publication) }
        }
        publications += try authority.publications()
        try store.save(authority)
        if !publications.isEmpty {
            do {
                _ = try await link.publish(publications)
            } catch {
                // The broker went away mid-round (the client reconnects): build these slots again next round.
                authority.markUndelivered(publications.map(\.device))
                try store.save(authority)
                logger.warning("publishing fleet slots failed; retrying next round", metadata: ["error": "\(error)"])
                return
            }
        }
        counters.withLock {
            $0.acks += acks
            $0.refused += refused
            $0.answered += answer.count
            $0.published += publications.count
        }
        metrics.acks.increment(by: acks)
        metrics.refused.increment(by: refused)
        metrics.answered.increment(by: answer.count)
        metrics.published.increment(by: publications.count)
    }
}

/// What ``FleetAuthorityService`` reports through swift-metrics (a no-op until the application bootstraps a
/// backend; `mqtt-seal fleet serve --metrics-port` bootstraps swift-prometheus), mirroring
/// ``FleetAuthorityService/Statistics``:
///
/// - `mqtt_seal_fleet_acks_total`: valid acks recorded;
/// - `mqtt_seal_fleet_answered_total`: slot requests answered;
/// - `mqtt_seal_fleet_refused_total`: reports refused (malformed, unknown device, bad signature): alert on it;
/// - `mqtt_seal_fleet_published_total`: slots published;
/// - `mqtt_seal_fleet_skipped_rounds_total`: rounds skipped because a fleet command held the lock.
struct FleetServiceMetrics: Sendable {
    let acks = Counter(label: "mqtt_seal_fleet_acks_total")
    let answered = Counter(label: "mqtt_seal_fleet_answered_total")
    let refused = Counter(label: "mqtt_seal_fleet_refused_total")
    let published = Counter(label: "mqtt_seal_fleet_published_total")
    let skippedRounds = Counter(label: "mqtt_seal_fleet_skipped_rounds_total")
}

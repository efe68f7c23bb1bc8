import Foundation
import MQTT
import SealFleet
import SealKeyring
import SealedMQTT

/// One fleet command's hold on the authority: the lock, the loaded keyring and registry, and (when it publishes)
/// the broker connection with the ack subscription already in place.
struct FleetSession {
    let store: FleetStore
    var authority: FleetAuthority
    let lock: FleetLock
    private(set) var link: FleetAuthorityLink?
    private(set) var reports: MQTTMessageStream?
    /// Reports taken from ``reports`` while slots went out, not yet recorded.
    private var received: [MQTTMessage] = []
    private(set) var bytesPublished = 0
    private(set) var slotsPublished = 0

    /// Locks and loads the fleet; connects when `broker` is given.
    static func open(_ keyring: KeyringOptions, broker: BrokerOptions?) async throws(CLIFailure) -> FleetSession {
        let store = FleetStore(path: keyring.keyring, credential: try keyring.credential())
        let lock: FleetLock
        var authority: FleetAuthority
        do throws(FleetError) {
            lock = try store.lock()
            authority = try store.load()
            try authority.expireRetired()
        } catch {
            throw CLIFailure(fleetError: error)
        }
        var session = FleetSession(store: store, authority: authority, lock: lock)
        if let broker {
            let resolved = try broker.resolve(role: "fleet")
            let client = try await broker.connect(resolved, role: "fleet")
            let link = FleetAuthorityLink(client: client, topics: authority.registry.topics)
            do {
                session.reports = try await link.reports()
            } catch {
                await client.disconnect()
                throw BrokerOptions.connectFailure(error, endpoint: resolved.endpoint)
            }
            session.link = link
        }
        return session
    }

    private init(store: FleetStore, authority: FleetAuthority, lock: FleetLock) {
        self.store = store
        self.authority = authority
        self.lock = lock
    }

    /// Saves the keyring and the registry.
    func save() throws(CLIFailure) {
        do {
            try store.save(authority)
        } catch {
            throw CLIFailure(fleetError: error)
        }
    }

    /// Builds the changed slots, saves (sequences are durable before anything leaves), publishes them when
    /// connected. A failed publish marks the batch undelivered, so the next command sends it again.
    mutating func publishChanges(all: Bool = false) async throws(CLIFailure) {
        guard let link, let reports else {
            try save()
            return
        }
        let publications: [FleetAuthority.Publication]
        do {
            publications = try authority.publications(all: all)
        } catch {
            throw CLIFailure(fleetError: error)
        }
        try save()
        do {
            try await publish(publications, link: link, reports: reports)
        } catch {
            authority.markUndelivered(publications.map(\.device))
            try save()
            throw CLIFailure(.ioError, "publishing key slots failed: \(BrokerOptions.detail(error))")
        }
    }

    /// Publishes while keeping the reports that arrive meanwhile (see `FleetAuthorityLink.publish(_:draining:)`).
    private mutating func publish(
        _ publications: [FleetAuthority.Publication], link: FleetAuthorityLink, reports: MQTTMessageStream
    ) async throws {
        let (bytes, taken) = try await link.publish(publications, draining: reports)
        received += taken
        bytesPublished += bytes
        slotsPublished += publications.count
    }

    /// Waits until `coverage` (percent of active devices current) is reached or `deadline` passes, answering
    /// requests with the device's slot. Returns the coverage reached.
    mutating func waitForAcks(coverage: Double, deadline: Duration) async throws(CLIFailure) -> (Int, Int) {
        guard let link, let reports else { return authority.currentCoverage }
        let end = ContinuousClock.now.advanced(by: deadline)
        let reached = { (authority: FleetAuthority) -> Bool in
            let (current, total) = authority.currentCoverage
            return total == 0 || Double(current) * 100 >= coverage * Double(total)
        }
        while ContinuousClock.now < end {
            let requests: [String]
            do {
                requests = try await FleetAuthorityLink.collect(
                    reports, into: &authority, until: end, pending: received, done: reached)
                received = []
            } catch {
                throw CLIFailure(.ioError, "reading acks failed: \(BrokerOptions.detail(error))")
            }
            if requests.isEmpty { break }
            for device in Set(requests) {
                guard let member = authority.registry.member(device), member.state == .active, !member.isCurrent
                else { continue }
                do {
                    if let publication = try authority.republish(device) {
                        try save()
                        try await publish([publication], link: link, reports: reports)
                    }
                } catch {
                    throw CLIFailure(.ioError, "answering a slot request failed: \(BrokerOptions.detail(error))")
                }
            }
            if reached(authority) { break }
        }
        try save()
        return authority.currentCoverage
    }

    /// Opens a session, runs `body` with it, and closes it whether `body` succeeds or fails.
    static func with(
        _ keyring: KeyringOptions, broker: BrokerOptions?, _ body: (inout FleetSession) async throws -> Void
    ) async throws {
        var session = try await open(keyring, broker: broker)
        do {
            try await body(&session)
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    /// Disconnects and releases the lock.
    func close() async {
        if let link { await link.client.disconnect() }
        lock.release()
    }
}

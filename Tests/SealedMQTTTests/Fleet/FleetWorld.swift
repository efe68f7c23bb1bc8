import LocalBroker
import MQTT
import NIOCore
import Seal
import SealFleet
import SealKeyring
import SealedMQTT
import Synchronization
import Testing

/// An authority and many devices against one real mosquitto: device keyrings on disk (key-file KEK), the devices'
/// agents sharing a few MQTT connections, the authority's own connection with the ack subscription.
final class FleetWorld: Sendable {
    let broker: LocalBroker
    let folder = TempDir()
    let credential: KeyringCredential
    let store: FleetStore
    let topics: FleetTopics
    let authorityKey: [UInt8]
    let authorityClient: MQTTClient
    let link: FleetAuthorityLink
    let reports: MQTTMessageStream
    let state: Mutex<FleetAuthority>
    /// Reports taken while slots went out, recorded by the next ``waitForCoverage(minimum:seconds:)``.
    let received = Mutex<[MQTTMessage]>([])

    /// `reportBuffer`: the authority's subscription buffer (the client's default when nil).
    init(broker: LocalBroker, reportBuffer: Int? = nil) async throws {
        self.broker = broker
        credential = try KeyringCredential.generateKeyEncryptionKeyFile(folder.file("kek"))
        store = FleetStore(path: folder.file("authority.keyring"), credential: credential)
        topics = try FleetTopics()
        authorityKey = try store.create(topics: topics)
        var configuration = broker.mqttConfiguration("authority")
        if let reportBuffer { configuration.subscriptionBufferCapacity = reportBuffer }
        authorityClient = try MQTTClient(configuration: configuration)
        try await authorityClient.connect()
        link = FleetAuthorityLink(client: authorityClient, topics: topics)
        reports = try await link.reports()
        state = Mutex(try store.load())
    }

    /// Creates a device keyring and returns its request.
    func makeDevice(_ id: String) throws -> (FleetDeviceKeyring, EnrolmentRequest) {
        let file = KeyringFile(path: folder.file("\(id).keyring"))
        let request = try FleetDeviceKeyring.create(
            file: file, credential: credential, device: id, authority: authorityKey)
        return (FleetDeviceKeyring(file: file, credential: credential), request)
    }

    /// Enrols devices with grants (no publishing).
    func enroll(_ request: EnrolmentRequest, read: [String] = [], write: [String] = []) throws {
        let reads = try read.map { try TopicFilter($0) }
        let writes = try write.map { try TopicFilter($0) }
        try state.withLock { authority in try authority.enroll(request, read: reads, write: writes) }
    }

    /// Changes the authority state.
    func change<R>(_ body: (inout FleetAuthority) throws -> R) throws -> R {
        try state.withLock { authority in try body(&authority) }
    }

    /// Builds the changed slots, saves both files, publishes. Returns the number of slots.
    @discardableResult
    func publishChanges(all: Bool = false, window: Int = 512) async throws -> Int {
        let publications = try state.withLock { authority in
            let publications = try authority.publications(all: all)
            try store.save(authority)
            return publications
        }
        let (_, taken) = try await link.publish(publications, window: window, draining: reports)
        received.withLock { $0 += taken }
        return publications.count
    }

    /// Records acks until every active device is current (or `minimum` of them), bounded by `seconds`.
    func waitForCoverage(minimum: Int? = nil, seconds: Int64 = 60) async throws {
        // `collect` is bounded by its deadline: each wait races the next report against it.
        var authority = state.withLock { $0 }
        let pending = received.withLock { taken in
            defer { taken = [] }
            return taken
        }
        _ = try await FleetAuthorityLink.collect(
            reports, into: &authority, until: .now.advanced(by: .seconds(seconds)), pending: pending
        ) { authority in
            let (current, total) = authority.currentCoverage
            return current >= (minimum ?? total)
        }
        let coverage = authority.currentCoverage
        state.withLock { $0 = authority }
        if coverage.current < (minimum ?? coverage.total) {
            let behind = authority.devicesBehind.prefix(5).map {
                "\($0.device) published \($0.published) acked \($0.acked)"
            }
            Issue.record("coverage \(coverage) after \(seconds) s; behind: \(behind)")
            throw TestTimeout(what: "fleet coverage")
        }
    }

    var coverage: (current: Int, total: Int) { state.withLock { $0.currentCoverage } }

    func close() async {
        await authorityClient.disconnect()
    }
}

/// Runs fleet agents in a task group for the length of `body`; an agent that fails is recorded as an issue.
func withAgents<R: Sendable>(
    _ agents: [FleetDeviceAgent], _ body: @Sendable () async throws -> R
) async throws -> R {
    let failures = Failures()
    let result = try await withThrowingTaskGroup(of: R?.self) { group in
        for agent in agents {
            group.addTask {
                do {
                    try await agent.run()
                } catch is CancellationError {
                } catch {
                    failures.add("\(error)")
                }
                return nil
            }
        }
        let result: R
        do {
            result = try await body()
        } catch {
            let failed = failures.all
            if !failed.isEmpty { Issue.record("\(failed.count) agents failed, first: \(failed[0])") }
            throw error
        }
        group.cancelAll()
        return result
    }
    return result
}

/// Errors collected from child tasks.
final class Failures: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ text: String) { list.withLock { $0.append(text) } }
    var all: [String] { list.withLock { $0 } }
}

public import MQTT
import NIOCore
public import SealFleet

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The authority's MQTT side (Specs/fleet.md §3): publishes slots retained at QoS 1 and collects the devices'
/// signed acks and requests.
public struct FleetAuthorityLink: Sendable {
    /// The MQTT client (connected by its owner).
    public let client: MQTTClient
    /// The fleet topics.
    public let topics: FleetTopics

    /// Creates a link.
    public init(client: MQTTClient, topics: FleetTopics) {
        self.client = client
        self.topics = topics
    }

    /// Subscribes to every device's acks and requests (QoS 1). Subscribe before publishing, so no ack is missed.
    public func reports() async throws -> MQTTMessageStream {
        try await client.subscribe(to: [
            MQTTSubscription(topicFilter: topics.allAcks, options: MQTTSubscriptionOptions(qos: .atLeastOnce)),
            MQTTSubscription(topicFilter: topics.allRequests, options: MQTTSubscriptionOptions(qos: .atLeastOnce)),
        ])
    }

    /// Publishes slots (retained, QoS 1) with at most `window` in flight, and returns when the broker acknowledged
    /// every one.
    ///
    /// Use ``publish(_:window:draining:)`` when the same client holds the ``reports()`` subscription: acks that
    /// arrive while slots go out fill that subscription's buffer, the client then pauses reading its connection,
    /// and the PUBACKs this call waits for sit unread behind them.
    ///
    /// - Returns: the payload bytes published.
    public func publish(_ publications: [FleetAuthority.Publication], window: Int = 512) async throws -> Int {
        var bytes = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for publication in publications {
                if inFlight >= window {
                    try await group.next()
                    inFlight -= 1
                }
                bytes += publication.payload.count
                let client = self.client
                group.addTask {
                    try await client.publish(
                        to: publication.topic, payload: ByteBuffer(bytes: publication.payload), qos: .atLeastOnce,
                        retain: true)
                }
                inFlight += 1
            }
            try await group.waitForAll()
        }
        return bytes
    }

    /// Publishes slots like ``publish(_:window:)`` while taking every report that arrives on `reports` meanwhile,
    /// so the connection never stalls on a full report buffer (10,000 devices ack faster than slots go out).
    ///
    /// - Returns: the payload bytes published, and the reports received meanwhile, for
    ///   ``collect(_:into:until:pending:done:)``.
    public func publish(
        _ publications: [FleetAuthority.Publication], window: Int = 512, draining reports: MQTTMessageStream
    ) async throws -> (bytes: Int, received: [MQTTMessage]) {
        try await withThrowingTaskGroup(of: [MQTTMessage].self) { group in
            group.addTask {
                var received: [MQTTMessage] = []
                var iterator = reports.makeAsyncIterator()
                do {
                    while let message = try await iterator.next() { received.append(message) }
                } catch is CancellationError {
                    // Publishing is done; a message taken from the buffer is never dropped by the cancellation.
                }
                return received
            }
            let bytes: Int
            do {
                bytes = try await publish(publications, window: window)
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
            return (bytes, try await group.next() ?? [])
        }
    }

    /// Records `pending` (reports taken while publishing), then reports from `stream`, into `authority` until
    /// `done` says so or `deadline` passes. `done` is asked after every report: keep it cheap
    /// (`FleetAuthority.currentCoverage` is).
    ///
    /// - Returns: the requests seen (device ids), for the caller to answer.
    public static func collect(
        _ stream: MQTTMessageStream, into authority: inout FleetAuthority, until deadline: ContinuousClock.Instant,
        pending: [MQTTMessage] = [], done: (FleetAuthority) -> Bool
    ) async throws -> [String] {
        var requests: [String] = []
        for message in pending { record(message, into: &authority, requests: &requests) }
        if done(authority) { return requests }
        // Each wait races the next report against the deadline (iterators of one stream share its buffer). A
        // report the iterator took just as the deadline passed is still recorded.
        while ContinuousClock.now < deadline {
            let remaining = deadline - ContinuousClock.now
            let (message, ended) = try await withThrowingTaskGroup(of: MQTTMessage??.self) { group in
                group.addTask {
                    var iterator = stream.makeAsyncIterator()
                    do {
                        return .some(try await iterator.next())
                    } catch is CancellationError {
                        return .none
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: remaining)
                    return .none
                }
                var taken: MQTTMessage?
                var ended = false
                for try await result in group {
                    group.cancelAll()
                    switch result {
                    case .some(.some(let message)): taken = message
                    case .some(.none): ended = true
                    case .none: break
                    }
                }
                return (taken, ended)
            }
            if let message { record(message, into: &authority, requests: &requests) }
            if ended || message == nil || done(authority) { break }
        }
        return requests
    }

    /// Records one report (a forged or unknown one is ignored); a request's device joins `requests`.
    private static func record(_ message: MQTTMessage, into authority: inout FleetAuthority, requests: inout [String]) {
        if let report = try? authority.record(report: Array(buffer: message.payload)), report.kind == .request {
            requests.append(report.device)
        }
    }
}

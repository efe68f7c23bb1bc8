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

    /// Records reports from `stream` into `authority` until `done` says so or `deadline` passes.
    ///
    /// - Returns: the requests seen (device ids), for the caller to answer.
    public static func collect(
        _ stream: MQTTMessageStream, into authority: inout FleetAuthority, until deadline: ContinuousClock.Instant,
        done: (FleetAuthority) -> Bool
    ) async throws -> [String] {
        var requests: [String] = []
        if done(authority) { return requests }
        // Each wait races the next report against the deadline (iterators of one stream share its buffer).
        while ContinuousClock.now < deadline {
            let remaining = deadline - ContinuousClock.now
            let next: MQTTMessage?? = try await withThrowingTaskGroup(of: MQTTMessage??.self) { group in
                group.addTask {
                    var iterator = stream.makeAsyncIterator()
                    return .some(try await iterator.next())
                }
                group.addTask {
                    try await Task.sleep(for: remaining)
                    return .none
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
            guard case .some(let message) = next else { break }
            guard let message else { break }
            if let report = try? authority.record(report: Array(buffer: message.payload)), report.kind == .request {
                requests.append(report.device)
            }
            if done(authority) { break }
        }
        return requests
    }
}

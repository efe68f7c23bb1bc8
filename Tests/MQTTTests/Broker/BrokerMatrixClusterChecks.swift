import Foundation
import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// The indices a subscriber received, and how often.
actor ReceivedIndices {
    private(set) var counts: [Int: Int] = [:]
    private(set) var total = 0

    func record(_ text: String) {
        guard let index = Int(text) else { return }
        counts[index, default: 0] += 1
        total += 1
    }

    var distinct: Int { counts.count }
}

extension MatrixBroker {
    /// Publisher on this node, subscriber on `other`: `count` QoS 1 messages all arrive once at least.
    func checkCrossNode(to other: MatrixBroker, count: Int) async throws {
        let topic = "matrix/cross/" + uniqueSuffix()
        let subscriber = try await other.client(.v311, "cross-sub")
        let stream = try await subscriber.subscribe(to: topic, qos: .atLeastOnce)
        let publisher = try await client(.v311, "cross-pub")
        let outcomes = try await withTimeout(60, "cross-node publishes") {
            await publishAll(publisher, count: count, topic: topic, qos: .atLeastOnce)
        }
        #expect(outcomes.values.filter { (try? $0.get()) == nil }.isEmpty, "cross-node publish failures")
        let messages = try await collect(stream, count: count, seconds: 60)
        #expect(Set(messages.map(\.payloadString)) == Set((0..<count).map { "\($0)" }))
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// RabbitMQ 3.10 keeps retained messages per node (`rabbit_mqtt_retained_msg_store`, not replicated): a message
    /// retained through node 1 reaches a later subscriber on node 1, not one on node 2.
    func checkRetainedAcrossNodes(to other: MatrixBroker) async throws {
        let topic = "matrix/retained-cross/" + uniqueSuffix()
        let publisher = try await client(.v311, "rcross-pub")
        try await publisher.publish(to: topic, payload: payload("node1"), qos: .atLeastOnce, retain: true)
        let remote = try await other.client(.v311, "rcross-remote")
        let remoteMessages = await collectFor(try await remote.subscribe(to: topic, qos: .atLeastOnce), seconds: 1)
        #expect(remoteMessages.isEmpty, "retained on node 1, seen on node 2: \(remoteMessages.map(\.payloadString))")
        let local = try await client(.v311, "rcross-local")
        let localMessages = try await collect(try await local.subscribe(to: topic, qos: .atLeastOnce), count: 1)
        #expect(localMessages.map(\.payloadString) == ["node1"])
        try await publisher.publish(to: topic, payload: ByteBuffer(), qos: .atLeastOnce, retain: true)
        for client in [publisher, remote, local] { await client.disconnect() }
    }

    /// A QoS 1 stream published through node 1 to a subscriber on `survivor` (node 2); node 1 is SIGKILLed once
    /// `killAfter` messages arrived. The publisher's client on node 1 ends (its unacknowledged publishes fail); the
    /// application fails over to node 2 and publishes again every message whose publish did not succeed.
    ///
    /// Asserted: every message acknowledged to the publisher by node 1 arrives at the subscriber on node 2 (the
    /// subscriber's queue lives on node 2 and node 1 confirms a publish only after routing it there), and after the
    /// failover all `count` arrive; copies happen only for messages whose acknowledgement the kill cut off.
    func checkNodeKill(
        cluster: LocalRabbitMQCluster, survivor: MatrixBroker, count: Int, killAfter: Int
    ) async throws {
        let topic = "matrix/kill/" + uniqueSuffix()
        let subscriber = try await survivor.client(.v311, "kill-sub")
        let stream = try await subscriber.subscribe(to: topic, qos: .atLeastOnce)
        let received = ReceivedIndices()
        let collector = Task {
            for try await message in stream { await received.record(message.payloadString) }
        }
        defer { collector.cancel() }
        let publisher = try await client(.v311, "kill-pub")
        let publishing = Task { await publishAll(publisher, count: count, topic: topic, qos: .atLeastOnce) }
        try await withTimeout(60, "\(killAfter) messages before the kill") {
            while await received.total < killAfter { try await Task.sleep(for: .milliseconds(5)) }
        }
        await cluster.kill(node: 0)
        #expect(!cluster.isRunning(node: 0))
        let outcomes = try await withTimeout(60, "the publishes on the killed node to end") { await publishing.value }
        let acknowledged = Set(outcomes.filter { (try? $0.value.get()) != nil }.map(\.key))
        let failed = (0..<count).filter { !acknowledged.contains($0) }
        #expect(outcomes.count == count)
        // `killAfter` had arrived; at most the in-flight window of them (20 in MQTT 3.1.1) can miss its PUBACK.
        let window = publisher.configuration.inflightLimitForMQTT311
        #expect(acknowledged.count >= killAfter - window, "acknowledged before the kill: \(acknowledged.count)")
        #expect(!failed.isEmpty, "the kill came after the whole stream: nothing was in flight")
        for index in failed {
            guard case .failure(let error) = outcomes[index] else { continue }
            #expect(
                [.connectionClosed, .clientShutDown, .notConnected, .reconnectLimitReached].contains(error.code),
                "\(index): \(error)")
        }
        await publisher.abort()

        // Every acknowledged message is already on node 2 or on its way.
        try await withTimeout(60, "the acknowledged messages on node 2") {
            while true {
                let counts = await received.counts
                if acknowledged.allSatisfy({ counts[$0] != nil }) { return }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        // Fail-over: the application publishes again, through node 2, what node 1 did not acknowledge.
        let failover = try await survivor.client(.v311, "kill-failover")
        for index in failed {
            try await failover.publish(to: topic, payload: payload("\(index)"), qos: .atLeastOnce)
        }
        try await withTimeout(60, "all \(count) on node 2") {
            while await received.distinct < count { try await Task.sleep(for: .milliseconds(20)) }
        }
        let counts = await received.counts
        let copies = counts.values.reduce(0) { $0 + $1 - 1 }
        #expect(counts.count == count)
        // A copy is a message that reached node 2's queue before the kill while its PUBACK was lost, then sent again.
        #expect(copies <= failed.count, "copies \(copies), republished \(failed.count)")
        #expect(acknowledged.allSatisfy { counts[$0] == 1 }, "an acknowledged message arrived twice")
        print(
            "rabbitmq node kill: \(count) published, \(acknowledged.count) acknowledged by node 1, \(failed.count) "
                + "failed and republished on node 2, \(counts.count) distinct received, \(copies) copies")
        await failover.disconnect()
        await subscriber.disconnect()
    }
}

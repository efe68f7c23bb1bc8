import LocalBroker
import NIOCore
import Synchronization
import Testing

@testable import MQTT

/// Counts of a stream across broker crashes: what the publisher was told, what the subscriber saw.
final class CrashLedger: Sendable {
    private struct State {
        var acknowledged = Set<Int>()
        var failed: [String: Int] = [:]
        var deliveries: [Int: Int] = [:]
    }
    private let state = Mutex(State())

    func acknowledged(_ value: Int) { state.withLock { _ = $0.acknowledged.insert(value) } }
    func failed(_ error: any Error) {
        let key = (error as? MQTTError).map { "\($0.code) \($0.reasonCode)" } ?? "\(error)"
        state.withLock { $0.failed[key, default: 0] += 1 }
    }
    func delivered(_ value: Int) { state.withLock { $0.deliveries[value, default: 0] += 1 } }

    var acknowledgedCount: Int { state.withLock { $0.acknowledged.count } }
    var failures: [String: Int] { state.withLock { $0.failed } }
    var distinct: Int { state.withLock { $0.deliveries.count } }
    var duplicates: Int { state.withLock { $0.deliveries.values.reduce(0) { $0 + $1 - 1 } } }
    /// Acknowledged to the publisher (PUBCOMP) and never delivered.
    var lostAfterAcknowledgement: [Int] {
        state.withLock { state in state.acknowledged.filter { state.deliveries[$0] == nil }.sorted() }
    }
}

@Suite(.serialized, .timeLimit(.minutes(4)))
struct BrokerCrashTests {
    /// A QoS 2 stream while a persistent mosquitto is SIGKILLed three times: its restored sessions are slightly
    /// out of date, so it holds QoS 2 flows the client completed and refuses messages with Quota exceeded. Every
    /// publish must end successfully (none failed by a quota refusal, no reconnect storm).
    @Test func qos2StreamSurvivesBrokerCrashes() async throws {
        let broker = try await LocalBroker.start(
            .init(
                persistence: true, autosaveInterval: 1, autosaveOnChanges: true, maxQueuedMessages: 0,
                extraConfiguration: ["log_type all"]))
        defer { broker.stopNow() }
        let restart = BrokerRestartTests()
        let subscriber = try MQTTClient(configuration: restart.resumingConfiguration(broker, clientID: "crash-sub"))
        try await subscriber.connect()
        let stream = try await subscriber.subscribe(to: "crash", qos: .exactlyOnce)
        let publisher = try MQTTClient(configuration: restart.resumingConfiguration(broker, clientID: "crash-pub"))
        try await publisher.connect()

        let total = 3_000
        let ledger = CrashLedger()
        let consumer = Task {
            for try await message in stream {
                guard let value = message.payload.getInteger(at: 0, as: UInt32.self) else { continue }
                ledger.delivered(Int(value))
            }
        }
        let producer = Task {
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<total {
                    if index >= 50 { await group.next() }
                    var buffer = ByteBuffer()
                    buffer.writeInteger(UInt32(index))
                    group.addTask {
                        do {
                            try await publisher.publish(to: "crash", payload: buffer, qos: .exactlyOnce)
                            ledger.acknowledged(index)
                        } catch {
                            ledger.failed(error)
                        }
                    }
                }
            }
        }
        for crash in 1...3 {
            try await eventually(60, "stream past crash \(crash)") { ledger.acknowledgedCount >= crash * total / 4 }
            await broker.kill()
            try await Task.sleep(for: .milliseconds(200))
            try await broker.restart()
        }
        try await withTimeout(120, "every publish ended") { await producer.value }
        try? await eventually(20, "every acknowledged message delivered") {
            ledger.lostAfterAcknowledgement.isEmpty
        }
        try await Task.sleep(for: .milliseconds(500))
        consumer.cancel()
        let lost = ledger.lostAfterAcknowledgement
        if !ledger.failures.isEmpty {
            let lines = broker.log.split(separator: "\n").filter {
                !$0.contains("Saving in-memory") && !$0.contains("crash-sub") && !$0.contains("rc0)")
                    && !$0.contains("d0, q2")
            }
            Issue.record("broker log:\n\(lines.suffix(150).joined(separator: "\n"))")
        }
        #expect(ledger.failures.isEmpty, "failed publishes: \(ledger.failures)")
        #expect(ledger.acknowledgedCount == total)
        // Each crash costs a few connections (the crash itself, a refusal while the window shrinks), never a
        // reconnect storm: before the fix, 100 attempts ran out within seconds.
        let connections = try await publisher.connectionStatistics
        #expect(connections.established <= 1 + 3 * 4, "publisher connections: \(connections.established)")
        // What mosquitto itself loses or replays is counted, not asserted: it sends PUBCOMP before its next save,
        // so a SIGKILL can lose a message it completed, and a restored subscriber session can repeat one
        // (README, "Broker crashes"). The sealed layer drops such repeats; nothing here can restore a loss.
        print(
            "crash ledger: connections \(connections.established), acknowledged \(ledger.acknowledgedCount), "
                + "distinct \(ledger.distinct), duplicates \(ledger.duplicates), lost after PUBCOMP \(lost.count)")
        await publisher.disconnect()
        await subscriber.disconnect()
    }
}

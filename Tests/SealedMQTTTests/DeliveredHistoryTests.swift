import Seal
import Testing

@testable import SealedMQTT

/// The delivered history (the duplicate accounting's memory) against a plain model: a FIFO of distinct identities
/// that forgets the oldest beyond its capacity.
@Suite struct DeliveredHistoryTests {
    /// The model: what the history must answer.
    struct Model {
        let capacity: Int
        var order: [EnvelopeIdentity] = []

        mutating func record(_ identity: EnvelopeIdentity) {
            guard capacity > 0, !order.contains(identity) else { return }
            if order.count == capacity { order.removeFirst() }
            order.append(identity)
        }
    }

    @Test(arguments: [1, 2, 7, 64])
    func answersAsTheModelThroughManyEvictions(capacity: Int) {
        let history = DeliveredHistory(capacity: capacity)
        var model = Model(capacity: capacity)
        // Few distinct values, so that identities repeat, collide and are forgotten and seen again.
        var generator = SystemRandomNumberGenerator()
        var universe: [EnvelopeIdentity] = []
        for kid in 1...3 as ClosedRange<UInt32> {
            for sid in 1...2 as ClosedRange<UInt32> {
                for sequence in 0..<UInt64(capacity * 3 + 5) {
                    universe.append(EnvelopeIdentity(keyID: kid, senderID: sid, sequence: sequence << 16))
                }
            }
        }
        var mismatches = 0
        for _ in 0..<5_000 {
            let identity = universe.randomElement(using: &generator)!
            if Bool.random(using: &generator) {
                history.record(identity)
                model.record(identity)
            }
            let probe = universe.randomElement(using: &generator)!
            if history.contains(probe) != model.order.contains(probe) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(history.count == model.order.count)
        for identity in universe where history.contains(identity) != model.order.contains(identity) {
            Issue.record("history and model disagree on \(identity)")
        }
    }

    @Test func theOldestIsForgottenFirstAndARepeatIsNotRecordedTwice() {
        let history = DeliveredHistory(capacity: 3)
        let identities = (1...4).map { EnvelopeIdentity(keyID: 1, senderID: 9, sequence: UInt64($0)) }
        history.record(identities[0])
        history.record(identities[1])
        history.record(identities[0])  // already remembered: it keeps its place
        history.record(identities[2])
        #expect(history.count == 3)
        history.record(identities[3])
        #expect(!history.contains(identities[0]))
        #expect(history.contains(identities[1]) && history.contains(identities[2]) && history.contains(identities[3]))
        #expect(history.count == 3)
    }

    @Test func aZeroCapacityRemembersNothing() {
        let history = DeliveredHistory(capacity: 0)
        let identity = EnvelopeIdentity(keyID: 1, senderID: 1, sequence: 1)
        history.record(identity)
        #expect(!history.contains(identity))
        #expect(history.count == 0)
    }
}

import Seal
import SealKeyring
import Synchronization

/// The identities of the last envelopes one subscription delivered, for the duplicate accounting.
///
/// The replay guard remembers a bounded window per sender. A broker that restarts resends its whole queue, and a
/// copy older than that window is rejected as ``SealError/Reason/outsideWindow``. That is right for the decision
/// (it is not delivered again) but wrong for the accounting: a copy of a message that was delivered is a
/// duplicate, not an attack. This history, much longer than the window, tells the two apart: a message rejected as
/// outside the window whose identity was delivered is counted as a duplicate; one that was never delivered stays a
/// rejection. Memory is bounded: `capacity` identities in a ring and a set (about 50 bytes each).
final class DeliveredHistory: Sendable {
    private struct State {
        var ring: [EnvelopeIdentity?]
        var next = 0
        var members: Set<EnvelopeIdentity> = []
    }

    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        self.state = Mutex(State(ring: Array(repeating: nil, count: max(0, capacity))))
    }

    /// Remembers a delivered envelope, forgetting the oldest when full.
    func record(_ identity: EnvelopeIdentity) {
        guard capacity > 0 else { return }
        state.withLock { state in
            guard state.members.insert(identity).inserted else { return }
            if let evicted = state.ring[state.next] { state.members.remove(evicted) }
            state.ring[state.next] = identity
            state.next = state.next + 1 == capacity ? 0 : state.next + 1
        }
    }

    /// Whether an envelope with this identity was delivered (among the last `capacity`).
    func contains(_ identity: EnvelopeIdentity) -> Bool {
        guard capacity > 0 else { return false }
        return state.withLock { $0.members.contains(identity) }
    }
}

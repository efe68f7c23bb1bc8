import Seal
import Synchronization

/// The identities of the last envelopes one subscription delivered, for the duplicate accounting.
///
/// The replay guard remembers a bounded window per sender. A broker that restarts resends its whole queue, and a
/// copy older than that window is rejected as ``SealError/Reason/outsideWindow``. That is right for the decision
/// (it is not delivered again) but wrong for the accounting: a copy of a message that was delivered is a
/// duplicate, not an attack. This history, much longer than the window, tells the two apart: a message rejected as
/// outside the window whose identity was delivered is counted as a duplicate; one that was never delivered stays a
/// rejection.
///
/// It is written once per delivered message, so it is built for that: the identities sit in a ring in delivery
/// order (the oldest is forgotten first) and an open-addressing index of ring positions finds them (linear
/// probing, a keyed 64-bit mix of the identity instead of `Hasher`'s SipHash, deletion by backward shift) whose slots
/// carry part of the hash, so a lookup touches one slot run and reads the ring only on a match. No allocation after
/// creation; 32 to 48 bytes per remembered identity.
final class DeliveredHistory: Sendable {
    private struct State {
        /// The remembered identities; `ring[next]` is the oldest once the ring is full.
        var ring: [EnvelopeIdentity]
        var next = 0
        /// The index, at most half full. A used slot holds the identity's `ring` position + 1 in its upper 32 bits
        /// and the low 32 bits of its hash in the lower ones (so probing and moving entries compare and place by
        /// the slot alone, and read `ring` only on a hash match); 0 is an empty slot.
        var slots: [UInt64]
        let mask: Int
        /// A per-history key mixed into every hash, so that the probe sequences are not predictable.
        let seed: UInt64

        init(capacity: Int) {
            ring = []
            ring.reserveCapacity(capacity)
            var size = 16
            while size < capacity * 2 { size *= 2 }
            slots = Array(repeating: 0, count: capacity > 0 ? size : 0)
            mask = size - 1
            seed = UInt64.random(in: .min ... .max)
        }

        /// The low 32 bits of a keyed 64-bit mix of the identity (SplitMix64's finaliser).
        func hash(_ identity: EnvelopeIdentity) -> UInt64 {
            var value = (UInt64(identity.keyID) << 32 | UInt64(identity.senderID)) ^ seed
            value = (value ^ identity.sequence) &* 0x9E37_79B9_7F4A_7C15
            value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
            value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
            return (value ^ (value >> 31)) & 0xFFFF_FFFF
        }

        /// The slot holding `identity` (whose hash is `hash`), or nil.
        func slot(of identity: EnvelopeIdentity, hash: UInt64) -> Int? {
            var index = Int(truncatingIfNeeded: hash) & mask
            // Bounded by the table's size (it is at most half full, so a run ends long before).
            for _ in 0..<slots.count {
                let entry = slots[index]
                if entry == 0 { return nil }
                if entry & 0xFFFF_FFFF == hash && ring[Int(entry >> 32) - 1] == identity { return index }
                index = (index + 1) & mask
            }
            return nil
        }

        /// Empties `slot`, moving later entries of its probe run back so that every entry stays reachable.
        mutating func vacate(_ slot: Int) {
            var hole = slot
            var index = slot
            for _ in 1..<slots.count {
                index = (index + 1) & mask
                let entry = slots[index]
                if entry == 0 { break }
                let home = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) & mask
                // The entry stays when its home lies cyclically in (hole, index]: moving it would skip its home.
                let stays = hole <= index ? (hole < home && home <= index) : (hole < home || home <= index)
                if stays { continue }
                slots[hole] = entry
                hole = index
            }
            slots[hole] = 0
        }

        mutating func insert(_ identity: EnvelopeIdentity, capacity: Int) {
            let hash = hash(identity)
            guard slot(of: identity, hash: hash) == nil else { return }
            if ring.count == capacity {
                // Full: forget the oldest, whose ring position the new identity takes.
                let oldest = ring[next]
                if let slot = slot(of: oldest, hash: self.hash(oldest)) { vacate(slot) }
                ring[next] = identity
            } else {
                ring.append(identity)
            }
            var index = Int(truncatingIfNeeded: hash) & mask
            var probes = 0
            while slots[index] != 0 {
                // At most half full, so an empty slot is always near; a full table is a broken invariant.
                probes += 1
                precondition(probes < slots.count, "delivered history index full")
                index = (index + 1) & mask
            }
            slots[index] = UInt64(next + 1) << 32 | hash
            next = next + 1 == capacity ? 0 : next + 1
        }

        func contains(_ identity: EnvelopeIdentity) -> Bool { slot(of: identity, hash: hash(identity)) != nil }
    }

    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int) {
        // Ring positions take 32 bits of a slot, and home slots come from 32 hash bits.
        self.capacity = min(max(0, capacity), 1 << 30)
        self.state = Mutex(State(capacity: self.capacity))
    }

    /// Remembers a delivered envelope, forgetting the oldest when full.
    func record(_ identity: EnvelopeIdentity) {
        guard capacity > 0 else { return }
        state.withLock { $0.insert(identity, capacity: capacity) }
    }

    /// Whether an envelope with this identity was delivered (among the last `capacity`).
    func contains(_ identity: EnvelopeIdentity) -> Bool {
        guard capacity > 0 else { return false }
        return state.withLock { $0.contains(identity) }
    }

    /// Identities remembered (for tests of the bound).
    var count: Int { state.withLock { $0.ring.count } }
}

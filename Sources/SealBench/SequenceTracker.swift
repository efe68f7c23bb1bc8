/// Per-subscriber bookkeeping of which (publisher, lane, sequence) arrived: loss, duplicates and reordering.
///
/// Every stream has a growable bit set of seen sequence numbers, so a duplicate is recognised however late it
/// comes; a message whose sequence number is below the highest already seen on its stream counts as reordered.
struct SequenceTracker {
    private var seen: [[UInt64]]
    private var highest: [Int64]
    private let lanes: Int
    private(set) var delivered = 0
    private(set) var duplicates = 0
    private(set) var reordered = 0
    private(set) var foreign = 0

    init(publishers: Int, lanes: Int) {
        self.lanes = lanes
        seen = Array(repeating: [], count: publishers * lanes)
        highest = Array(repeating: -1, count: publishers * lanes)
    }

    /// Records one arrival; returns false for a duplicate or a header that names no known stream.
    @discardableResult
    mutating func record(_ header: BenchPayload.Header) -> Bool {
        guard header.lane < lanes, header.publisher * lanes + header.lane < seen.count,
            header.sequence < UInt64(BenchConfiguration.maximumCount) * 2
        else {
            foreign += 1
            return false
        }
        let stream = header.publisher * lanes + header.lane
        let sequence = Int(header.sequence)
        let word = sequence >> 6
        if word >= seen[stream].count {
            seen[stream].append(contentsOf: repeatElement(0, count: Swift.max(word + 1 - seen[stream].count, 1024)))
        }
        let bit = UInt64(1) << UInt64(sequence & 63)
        if seen[stream][word] & bit != 0 {
            duplicates += 1
            return false
        }
        seen[stream][word] |= bit
        delivered += 1
        if Int64(sequence) < highest[stream] { reordered += 1 } else { highest[stream] = Int64(sequence) }
        return true
    }

    /// Merges the sets of several subscribers of one shared subscription: messages that two subscribers both
    /// received count as duplicates. Returns (unique deliveries, extra duplicates from overlaps).
    static func union(_ trackers: [SequenceTracker]) -> (unique: Int, overlaps: Int) {
        guard let first = trackers.first else { return (0, 0) }
        var unique = 0
        var total = 0
        for stream in first.seen.indices {
            let words = trackers.map { $0.seen[stream].count }.max() ?? 0
            for word in 0..<words {
                var merged: UInt64 = 0
                for tracker in trackers where word < tracker.seen[stream].count {
                    let bits = tracker.seen[stream][word]
                    total += bits.nonzeroBitCount
                    merged |= bits
                }
                unique += merged.nonzeroBitCount
            }
        }
        return (unique, total - unique)
    }
}

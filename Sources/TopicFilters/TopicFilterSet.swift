/// Many compiled topic filters matched at once: a trie over the filters' levels, so matching a topic costs time in
/// the topic's levels (and the wildcards met on the way), not in the number of filters.
///
/// The answer is exactly that of asking every ``TopicPattern`` in the set: MQTT §4.7 matching on UTF-8 bytes, `#`
/// matching its parent level, no wildcard in the first level matching a `$` topic, and a topic that is not a valid
/// name (empty, or holding `+`, `#` or U+0000) matching nothing. Literal levels are found by a hash of their bytes
/// and compared byte for byte, so matching allocates nothing. Matching recurses once per level, so filters deeper
/// than ``maximumTrieDepth`` levels (legal: a filter may have up to 32,768) are kept aside and asked in turn.
///
/// Filters may carry a tag (``insert(_:tag:)``, for example an index into the caller's table):
/// ``forEachMatch(utf8:_:)`` then reports the tag of every filter that matches a topic, so a caller picks among
/// the matching entries without asking each of its filters.
public struct TopicFilterSet: Sendable {
    /// Filters with more levels than this are matched one by one instead of through the trie, which bounds the
    /// recursion of a match (it may run on a thread with a small stack).
    public static let maximumTrieDepth = 128

    /// One trie node: the filters that continue, end or end in `#` after the levels that lead here.
    private struct Node: Sendable {
        /// Literal children by the FNV-1a hash of the level's bytes (collisions share a bucket).
        var literals: [UInt64: [Child]] = [:]
        /// The `+` child, or -1.
        var plus = -1
        /// A filter ends here with `#`: everything at and below this level matches.
        var hash = false
        /// A filter ends exactly here.
        var end = false
        /// The tags of the filters that end here with `#`, and of those that end exactly here.
        var hashTags: [Int] = []
        var endTags: [Int] = []
    }

    private struct Child: Sendable {
        let level: [UInt8]
        let node: Int
    }

    private var nodes: [Node] = [Node()]
    /// Filters deeper than ``maximumTrieDepth``, distinct.
    private var deep: [TopicPattern] = []
    /// Tagged filters deeper than ``maximumTrieDepth``.
    private var deepTags: [(pattern: TopicPattern, tag: Int)] = []
    /// The distinct filters in the set.
    public private(set) var count = 0

    /// An empty set: it matches nothing.
    public init() {}

    /// A set of these filters.
    public init(_ patterns: some Sequence<TopicPattern>) {
        for pattern in patterns { insert(pattern) }
    }

    /// Adds a filter (adding one twice changes nothing).
    public mutating func insert(_ pattern: TopicPattern) {
        insert(pattern, tag: nil)
    }

    /// Adds a filter with a tag that ``forEachMatch(utf8:_:)`` reports when the filter matches. The same filter may
    /// be added with several tags (each is reported); it counts once in ``count``.
    public mutating func insert(_ pattern: TopicPattern, tag: Int) {
        insert(pattern, tag: Optional(tag))
    }

    private mutating func insert(_ pattern: TopicPattern, tag: Int?) {
        guard pattern.levels.count <= Self.maximumTrieDepth else {
            if !deep.contains(pattern) {
                deep.append(pattern)
                count += 1
            }
            if let tag { deepTags.append((pattern, tag)) }
            return
        }
        var node = 0
        for level in pattern.levels {
            switch level {
            case .hash:
                if !nodes[node].hash { count += 1 }
                nodes[node].hash = true
                if let tag { nodes[node].hashTags.append(tag) }
                return
            case .plus:
                if nodes[node].plus < 0 {
                    nodes.append(Node())
                    nodes[node].plus = nodes.count - 1
                }
                node = nodes[node].plus
            case .literal(let bytes):
                let key = bytes.withUnsafeBufferPointer { Self.fnv1a($0, 0, $0.count) }
                if let child = nodes[node].literals[key]?.first(where: { $0.level == bytes }) {
                    node = child.node
                } else {
                    nodes.append(Node())
                    let created = nodes.count - 1
                    nodes[node].literals[key, default: []].append(Child(level: bytes, node: created))
                    node = created
                }
            }
        }
        if !nodes[node].end { count += 1 }
        nodes[node].end = true
        if let tag { nodes[node].endTags.append(tag) }
    }

    /// Whether some filter of the set matches a topic name.
    public func matches(_ topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { matches(utf8: $0) }
    }

    /// Whether some filter of the set matches a topic name given as UTF-8 bytes.
    public func matches(utf8 topic: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !topic.isEmpty, count > 0 else { return false }
        for byte in topic where byte == 0 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") { return false }
        let dollar = topic[0] == UInt8(ascii: "$")
        let found = nodes.withUnsafeBufferPointer { nodes in
            Self.match(nodes, 0, topic, from: 0, wildcardsAllowed: !dollar)
        }
        return found || deep.contains { $0.matches(utf8: topic) }
    }

    /// Calls `body` with the tag of every tagged filter that matches a topic name given as UTF-8 bytes (in no
    /// particular order; each tag of a matching filter once). Untagged filters are not reported.
    public func forEachMatch(utf8 topic: UnsafeBufferPointer<UInt8>, _ body: (Int) -> Void) {
        guard !topic.isEmpty, count > 0 else { return }
        for byte in topic where byte == 0 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") { return }
        let dollar = topic[0] == UInt8(ascii: "$")
        nodes.withUnsafeBufferPointer { nodes in
            Self.collect(nodes, 0, topic, from: 0, wildcardsAllowed: !dollar, body)
        }
        for entry in deepTags where entry.pattern.matches(utf8: topic) { body(entry.tag) }
    }

    /// Reports the tags of the filters below `index` that match the topic's levels from `start` on.
    private static func collect(
        _ nodes: UnsafeBufferPointer<Node>, _ index: Int, _ topic: UnsafeBufferPointer<UInt8>, from start: Int,
        wildcardsAllowed: Bool, _ body: (Int) -> Void
    ) {
        let node = nodes[index]
        if wildcardsAllowed { for tag in node.hashTags { body(tag) } }
        var end = start
        while end < topic.count && topic[end] != UInt8(ascii: "/") { end += 1 }
        let last = end == topic.count
        if !node.literals.isEmpty, let bucket = node.literals[fnv1a(topic, start, end)] {
            for child in bucket where equal(child.level, topic, start, end) {
                collectReached(nodes, child.node, topic, after: end, last: last, body)
            }
        }
        if node.plus >= 0 && wildcardsAllowed {
            collectReached(nodes, node.plus, topic, after: end, last: last, body)
        }
    }

    /// Reports the matching tags once the level ending at `end` led to node `index`.
    @inline(__always)
    private static func collectReached(
        _ nodes: UnsafeBufferPointer<Node>, _ index: Int, _ topic: UnsafeBufferPointer<UInt8>, after end: Int,
        last: Bool, _ body: (Int) -> Void
    ) {
        guard last else {
            collect(nodes, index, topic, from: end + 1, wildcardsAllowed: true, body)
            return
        }
        // After the topic's last level: filters that end here, or continue with `#` (which matches the parent).
        for tag in nodes[index].endTags { body(tag) }
        for tag in nodes[index].hashTags { body(tag) }
    }

    /// Whether the filters below `index` match the topic's levels from `start` on.
    private static func match(
        _ nodes: UnsafeBufferPointer<Node>, _ index: Int, _ topic: UnsafeBufferPointer<UInt8>, from start: Int,
        wildcardsAllowed: Bool
    ) -> Bool {
        let node = nodes[index]
        if node.hash && wildcardsAllowed { return true }
        var end = start
        while end < topic.count && topic[end] != UInt8(ascii: "/") { end += 1 }
        let last = end == topic.count
        if !node.literals.isEmpty, let bucket = node.literals[fnv1a(topic, start, end)] {
            for child in bucket where equal(child.level, topic, start, end) {
                if reached(nodes, child.node, topic, after: end, last: last) { return true }
            }
        }
        if node.plus >= 0 && wildcardsAllowed {
            if reached(nodes, node.plus, topic, after: end, last: last) { return true }
        }
        return false
    }

    /// Whether a filter matches once the level ending at `end` led to node `index`.
    @inline(__always)
    private static func reached(
        _ nodes: UnsafeBufferPointer<Node>, _ index: Int, _ topic: UnsafeBufferPointer<UInt8>, after end: Int,
        last: Bool
    ) -> Bool {
        // After the topic's last level: a filter that ends here, or continues with `#` (which matches the parent).
        if last { return nodes[index].end || nodes[index].hash }
        return match(nodes, index, topic, from: end + 1, wildcardsAllowed: true)
    }

    @inline(__always)
    private static func equal(_ level: [UInt8], _ topic: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        guard level.count == end - start else { return false }
        for offset in 0..<level.count where level[offset] != topic[start + offset] { return false }
        return true
    }

    @inline(__always)
    private static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for offset in start..<end { hash = (hash ^ UInt64(bytes[offset])) &* 0x0000_0100_0000_01b3 }
        return hash
    }
}

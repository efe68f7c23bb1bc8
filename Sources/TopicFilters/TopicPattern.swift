/// A validated, compiled MQTT topic filter: the one topic-filter implementation of the package. The client's
/// routing (`MQTT`), the keyring's topic ACL (`SealKeyring`), the sealed policy and the fleet's grants all match
/// through it.
///
/// Matching follows MQTT 3.1.1 and 5.0 §4.7: `+` matches one level, `#` matches the parent level and any number
/// of levels below, and a filter starting with a wildcard does not match a topic starting with `$`. Everything is
/// compared as UTF-8 bytes, never as Swift `String`s (which equate canonically equivalent text: MQTT does not).
/// The filter is split into levels once, so matching does not validate or split it again.
public struct TopicPattern: Sendable, Hashable {
    /// One level of a filter.
    public enum Level: Sendable, Hashable {
        /// A literal level, as UTF-8 bytes.
        case literal([UInt8])
        /// `+`.
        case plus
        /// `#` (always the last level).
        case hash
    }

    /// The filter's UTF-8 bytes.
    public let bytes: [UInt8]
    /// The levels, never empty.
    public let levels: [Level]

    /// The longest filter accepted, in UTF-8 bytes (the MQTT string limit).
    public static let maximumLength = 65_535

    /// Why a filter is not valid.
    public enum Problem: Error, Sendable, Hashable {
        /// No bytes.
        case empty
        /// More than ``TopicPattern/maximumLength`` bytes.
        case tooLong
        /// A U+0000 byte.
        case nul
        /// `+` or `#` together with other characters in one level.
        case wildcardNotWholeLevel
        /// `#` before the last level.
        case hashNotLast
    }

    /// Validates and compiles a filter from its UTF-8 bytes.
    ///
    /// - Throws: the ``Problem``.
    public init(utf8: some Collection<UInt8>) throws(Problem) {
        let bytes = Array(utf8)
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count <= Self.maximumLength else { throw .tooLong }
        guard !bytes.contains(0) else { throw .nul }
        let parts = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        var levels: [Level] = []
        levels.reserveCapacity(parts.count)
        for (index, part) in parts.enumerated() {
            if part.count == 1 && part.first == UInt8(ascii: "+") {
                levels.append(.plus)
            } else if part.count == 1 && part.first == UInt8(ascii: "#") {
                guard index == parts.count - 1 else { throw .hashNotLast }
                levels.append(.hash)
            } else if part.contains(UInt8(ascii: "+")) || part.contains(UInt8(ascii: "#")) {
                throw .wildcardNotWholeLevel
            } else {
                levels.append(.literal(Array(part)))
            }
        }
        self.bytes = bytes
        self.levels = levels
    }

    /// Validates and compiles a filter.
    ///
    /// - Throws: the ``Problem``.
    public init(_ filter: String) throws(Problem) { try self.init(utf8: filter.utf8) }

    /// Whether the filter has no wildcard (it matches exactly one topic name: its own bytes).
    public var isExact: Bool { !levels.contains { if case .literal = $0 { false } else { true } } }

    /// Whether the filter matches a topic name. A topic that is not a valid name (empty, or holding `+`, `#` or
    /// U+0000) never matches.
    public func matches(_ topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { matches(utf8: $0) }
    }

    /// Whether the filter matches a topic name given as UTF-8 bytes.
    public func matches(utf8 topic: UnsafeBufferPointer<UInt8>) -> Bool {
        if topic.isEmpty { return false }
        if topic[0] == UInt8(ascii: "$") {
            switch levels[0] {
            case .plus, .hash: return false
            case .literal: break
            }
        }
        var position = 0  // start of the current topic level
        var exhausted = false  // true once the last topic level has been consumed
        for level in levels {
            if exhausted {
                // "a/#" matches "a": '#' also matches the parent level.
                if case .hash = level { return true }
                return false
            }
            var end = position
            while end < topic.count && topic[end] != UInt8(ascii: "/") {
                let byte = topic[end]
                if byte == 0 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") { return false }
                end += 1
            }
            switch level {
            case .hash:
                var rest = end
                while rest < topic.count {
                    let byte = topic[rest]
                    if byte == 0 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") { return false }
                    rest += 1
                }
                return true
            case .plus:
                break
            case .literal(let literal):
                guard literal.count == end - position else { return false }
                for index in 0..<literal.count where literal[index] != topic[position + index] { return false }
            }
            if end == topic.count {
                exhausted = true
            } else {
                position = end + 1
            }
        }
        return exhausted
    }

    /// Whether every topic this filter matches, `other` matches too: `plant/#` covers `plant/7/+`; `plant/+`
    /// does not cover `plant/#`. (Conservative: it may answer false for two filters that match the same topics.)
    public func isCovered(by other: TopicPattern) -> Bool {
        let mine = levels
        let theirs = other.levels
        // A filter starting with a wildcard never matches a `$` topic; this one may.
        if case .literal(let first) = mine[0], first.first == UInt8(ascii: "$") {
            switch theirs[0] {
            case .plus, .hash: return false
            case .literal: break
            }
        }
        for index in theirs.indices {
            switch theirs[index] {
            case .hash:
                return mine.count >= index
            case .plus:
                guard index < mine.count else { return false }
                if case .hash = mine[index] { return false }
            case .literal(let literal):
                guard index < mine.count, case .literal(let own) = mine[index], own == literal else { return false }
            }
        }
        return mine.count == theirs.count
    }

    /// Whether some topic matches both filters: `plant/7/#` and `plant/+/temp` overlap; `plant/7/#` and
    /// `plant/8/#` do not.
    public func overlaps(_ other: TopicPattern) -> Bool {
        let a = levels
        let b = other.levels
        let dollarA: Bool = if case .literal(let first) = a[0] { first.first == UInt8(ascii: "$") } else { false }
        let dollarB: Bool = if case .literal(let first) = b[0] { first.first == UInt8(ascii: "$") } else { false }
        if dollarA != dollarB {
            // Only a literal `$` level on both sides can meet a `$` topic.
            let wildA: Bool = if case .literal = a[0] { false } else { true }
            let wildB: Bool = if case .literal = b[0] { false } else { true }
            if wildA || wildB { return false }
        }
        var index = 0
        while index < a.count && index < b.count {
            switch (a[index], b[index]) {
            case (.hash, _), (_, .hash): return true
            case (.plus, _), (_, .plus): break
            case (.literal(let x), .literal(let y)): if x != y { return false }
            }
            index += 1
        }
        if a.count == b.count { return true }
        // "a/#" also matches "a".
        let longer = a.count > b.count ? a : b
        if case .hash = longer[index] { return true }
        return false
    }

    /// The rank of this filter's match against a topic, used to pick the most specific one.
    ///
    /// Levels are compared from the left: a literal level beats `+`, `+` beats the end of the filter, and the end
    /// of the filter beats `#`. Two different filters that both match one topic never rank equal.
    public var specificityRanks: [UInt8] {
        var ranks: [UInt8] = []
        ranks.reserveCapacity(levels.count + 1)
        for level in levels {
            switch level {
            case .literal: ranks.append(3)
            case .plus: ranks.append(2)
            case .hash: ranks.append(0)
            }
        }
        if case .hash = levels.last {
        } else {
            ranks.append(1)  // the end of the filter
        }
        return ranks
    }

    /// Equality of the UTF-8 bytes (no Unicode normalisation).
    public static func == (lhs: TopicPattern, rhs: TopicPattern) -> Bool { lhs.bytes == rhs.bytes }

    /// Hashes the UTF-8 bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}

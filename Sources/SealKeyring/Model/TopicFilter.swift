/// A validated MQTT topic filter (`+` matches one level, `#` matches any number of trailing levels, including
/// none), used to restrict where a key or a signer may be used.
///
/// Matching follows MQTT 3.1.1 §4.7 / MQTT 5.0 §4.7: a filter that starts with a wildcard does not match a topic
/// that starts with `$`. Filters are compared byte for byte (no Unicode normalisation).
public struct TopicFilter: Sendable, Hashable, Comparable, CustomStringConvertible {
    enum Level: Sendable, Hashable {
        case literal([UInt8])
        case plus
        case hash
    }

    /// The filter text, exactly as given.
    public let string: String
    let levels: [Level]
    /// Precomputed ``specificityRanks(_:)`` of `levels`.
    let ranks: [UInt8]

    /// The longest filter or topic accepted, in UTF-8 bytes (the MQTT limit).
    public static let maximumLength = 65_535

    /// Validates and creates a filter. Throws ``KeyringError/Code-swift.struct/invalidArgument`` when the filter
    /// is empty, longer than 65535 bytes, contains NUL, or uses `+` / `#` other than as a whole level (`#` only as
    /// the last level).
    public init(_ string: String) throws(KeyringError) {
        let bytes = Array(string.utf8)
        guard !bytes.isEmpty else { throw KeyringError(.invalidArgument, "topic filter is empty") }
        guard bytes.count <= Self.maximumLength else {
            throw KeyringError(.invalidArgument, "topic filter is longer than \(Self.maximumLength) bytes")
        }
        guard !bytes.contains(0) else {
            throw KeyringError(.invalidArgument, "topic filter \(Self.quoted(string)) contains a NUL character")
        }
        let parts = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        var levels: [Level] = []
        levels.reserveCapacity(parts.count)
        for (index, part) in parts.enumerated() {
            if part.elementsEqual([UInt8(ascii: "+")]) {
                levels.append(.plus)
            } else if part.elementsEqual([UInt8(ascii: "#")]) {
                guard index == parts.count - 1 else {
                    throw KeyringError(
                        .invalidArgument, "topic filter \(Self.quoted(string)): '#' is allowed only as the last level")
                }
                levels.append(.hash)
            } else if part.contains(UInt8(ascii: "+")) || part.contains(UInt8(ascii: "#")) {
                throw KeyringError(
                    .invalidArgument,
                    "topic filter \(Self.quoted(string)): '+' and '#' must occupy a whole level")
            } else {
                levels.append(.literal(Array(part)))
            }
        }
        self.string = string
        self.levels = levels
        self.ranks = Self.specificityRanks(levels)
    }

    /// Validates a concrete topic name (no wildcards, not empty, no NUL, at most 65535 bytes).
    ///
    /// - Throws: ``KeyringError`` with code ``KeyringError/Code-swift.struct/invalidArgument``.
    public static func validateTopic(_ topic: String) throws(KeyringError) {
        var count = 0
        for byte in topic.utf8 {
            count += 1
            if byte == 0 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") {
                throw KeyringError(
                    .invalidArgument, "topic \(quoted(topic)) contains a wildcard or NUL; a topic name must be concrete"
                )
            }
        }
        guard count > 0 else { throw KeyringError(.invalidArgument, "topic is empty") }
        guard count <= maximumLength else {
            throw KeyringError(.invalidArgument, "topic is longer than \(maximumLength) bytes")
        }
    }

    /// Whether the filter matches a concrete topic name. A topic that is not a valid topic name never matches.
    public func matches(_ topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { matches(utf8: $0) }
    }

    func matches(utf8 topic: UnsafeBufferPointer<UInt8>) -> Bool {
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
                // Validate the rest of the topic is a proper name, then match.
                var rest = end
                while rest < topic.count {
                    let byte = topic[rest]
                    if byte == 0 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") { return false }
                    rest += 1
                }
                return true
            case .plus:
                break
            case .literal(let bytes):
                guard bytes.count == end - position else { return false }
                for index in 0..<bytes.count where bytes[index] != topic[position + index] { return false }
            }
            if end == topic.count {
                exhausted = true
            } else {
                position = end + 1
            }
        }
        return exhausted
    }

    /// The rank of this filter's match against a topic, used to pick the most specific primary.
    ///
    /// Levels are compared from the left: a literal level beats `+`, `+` beats the end of the filter, and the end
    /// of the filter beats `#`. Two different filters that both match one topic never rank equal.
    /// Whether every topic this filter matches, `other` matches too: `plant/#` covers `plant/7/+`; `plant/+`
    /// does not cover `plant/#`. Used for least privilege (a device gets a key only if its grants cover the key's
    /// scope).
    public func isCovered(by other: TopicFilter) -> Bool {
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
            case .literal(let bytes):
                guard index < mine.count, case .literal(let own) = mine[index], own == bytes else { return false }
            }
        }
        return mine.count == theirs.count
    }

    /// Whether some topic matches both filters: `plant/7/#` and `plant/+/temp` overlap; `plant/7/#` and
    /// `plant/8/#` do not.
    public func overlaps(_ other: TopicFilter) -> Bool {
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

    static func specificityRanks(_ levels: [Level]) -> [UInt8] {
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

    /// Whether this filter is more specific than `other` for a topic that both match.
    ///
    /// Levels are compared from the left: a literal level beats `+`, `+` beats the end of the filter, and the end
    /// of the filter beats `#`; the first difference decides (Specs/keyring.md §6). Two different filters that
    /// both match one topic are never equally specific.
    public func isMoreSpecific(than other: TopicFilter) -> Bool {
        for (left, right) in zip(ranks, other.ranks) where left != right { return left > right }
        return ranks.count > other.ranks.count
    }

    /// The filter text.
    public var description: String { string }

    /// Orders filters by their UTF-8 bytes (the canonical order of a ``TopicScope``).
    public static func < (lhs: TopicFilter, rhs: TopicFilter) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Equality of the filter text.
    public static func == (lhs: TopicFilter, rhs: TopicFilter) -> Bool { lhs.string == rhs.string }

    /// Hashes the filter text.
    public func hash(into hasher: inout Hasher) { hasher.combine(string) }

    package static func quoted(_ text: String) -> String {
        let shown = text.count > 80 ? String(text.prefix(80)) + "..." : text
        var out = "\""
        for scalar in shown.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// The topic scope of a key: its set of topic filters, deduplicated and sorted. A key created without filters has
/// the scope `#` (every topic that does not start with `$`).
///
/// "Exactly one primary per topic scope" compares scopes with `==`: two keys are in the same scope when their
/// filter sets are equal.
public struct TopicScope: Sendable, Hashable, CustomStringConvertible {
    /// The filters, sorted by their UTF-8 bytes, without duplicates, never empty.
    public let filters: [TopicFilter]

    /// The scope that matches every topic not starting with `$`: `["#"]`.
    public static let all = TopicScope(uncheckedSorted: [try! TopicFilter("#")])

    /// Creates the scope of a set of filters; an empty list means ``all``.
    public init(_ filters: [TopicFilter]) {
        if filters.isEmpty {
            self = .all
        } else {
            self.filters = Array(Set(filters)).sorted()
        }
    }

    /// Validates and creates a scope from filter strings; an empty list means ``all``.
    ///
    /// - Throws: ``KeyringError`` (``KeyringError/Code-swift.struct/invalidArgument``) for a malformed filter.
    public init(parsing filters: [String]) throws(KeyringError) {
        var parsed: [TopicFilter] = []
        for filter in filters { parsed.append(try TopicFilter(filter)) }
        self.init(parsed)
    }

    private init(uncheckedSorted filters: [TopicFilter]) { self.filters = filters }

    /// Whether any filter of the scope matches the topic.
    public func matches(_ topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { bytes in filters.contains { $0.matches(utf8: bytes) } }
    }

    /// The most specific filter of the scope that matches the topic, if any.
    func bestMatch(_ topic: String) -> TopicFilter? {
        var best: TopicFilter?
        var topic = topic
        topic.withUTF8 { bytes in
            for filter in filters where filter.matches(utf8: bytes) {
                if let current = best, !filter.isMoreSpecific(than: current) { continue }
                best = filter
            }
        }
        return best
    }

    /// The filters joined by `,` in brackets, for example `[a/#,b/+]`.
    public var description: String { "[" + filters.map(\.string).joined(separator: ",") + "]" }
}

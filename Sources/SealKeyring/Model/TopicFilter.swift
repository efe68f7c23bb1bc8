public import TopicFilters

/// A validated MQTT topic filter (`+` matches one level, `#` matches any number of trailing levels, including
/// none), used to restrict where a key or a signer may be used.
///
/// Matching follows MQTT 3.1.1 §4.7 / MQTT 5.0 §4.7: a filter that starts with a wildcard does not match a topic
/// that starts with `$`. Filters are compared byte for byte (no Unicode normalisation), through the package's one
/// topic-filter implementation, `TopicPattern`.
public struct TopicFilter: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The filter text, exactly as given.
    public let string: String
    /// The compiled filter (shared with the MQTT client's routing).
    public let pattern: TopicPattern
    /// Precomputed specificity ranks of the pattern.
    let ranks: [UInt8]

    /// The longest filter or topic accepted, in UTF-8 bytes (the MQTT limit).
    public static let maximumLength = TopicPattern.maximumLength

    /// Validates and creates a filter. Throws ``KeyringError/Code-swift.struct/invalidArgument`` when the filter
    /// is empty, longer than 65535 bytes, contains NUL, or uses `+` / `#` other than as a whole level (`#` only as
    /// the last level).
    public init(_ string: String) throws(KeyringError) {
        do {
            pattern = try TopicPattern(string)
        } catch {
            let reason: String
            switch error {
            case .empty: throw KeyringError(.invalidArgument, "topic filter is empty")
            case .tooLong:
                throw KeyringError(.invalidArgument, "topic filter is longer than \(Self.maximumLength) bytes")
            case .nul: reason = "contains a NUL character"
            case .hashNotLast: reason = "'#' is allowed only as the last level"
            case .wildcardNotWholeLevel: reason = "'+' and '#' must occupy a whole level"
            }
            throw KeyringError(
                .invalidArgument,
                "topic filter \(Self.quoted(string))" + (error == .nul ? " " : ": ") + reason)
        }
        self.string = string
        self.ranks = pattern.specificityRanks
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
    public func matches(_ topic: String) -> Bool { pattern.matches(topic) }

    func matches(utf8 topic: UnsafeBufferPointer<UInt8>) -> Bool { pattern.matches(utf8: topic) }

    /// Whether every topic this filter matches, `other` matches too: `plant/#` covers `plant/7/+`; `plant/+`
    /// does not cover `plant/#`. Used for least privilege (a device gets a key only if its grants cover the key's
    /// scope).
    public func isCovered(by other: TopicFilter) -> Bool { pattern.isCovered(by: other.pattern) }

    /// Whether some topic matches both filters: `plant/7/#` and `plant/+/temp` overlap; `plant/7/#` and
    /// `plant/8/#` do not.
    public func overlaps(_ other: TopicFilter) -> Bool { pattern.overlaps(other.pattern) }

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

    /// Equality of the filter's UTF-8 bytes: canonically equivalent spellings (NFC and NFD) are different filters,
    /// as they are different topics to MQTT.
    public static func == (lhs: TopicFilter, rhs: TopicFilter) -> Bool { lhs.pattern == rhs.pattern }

    /// Hashes the filter's UTF-8 bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }

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

import TopicFilters

/// Validation and matching of MQTT topic names and topic filters (MQTT 5 §4.7, §4.8.2).
///
/// Strings in Swift are always well-formed Unicode, so UTF-8 validity of application input is
/// guaranteed by the type; the decoder validates the UTF-8 of received bytes before a `String` exists.
public enum MQTTTopic {
    /// The prefix of a shared subscription filter, `$share/{ShareName}/{filter}`.
    public static let sharedSubscriptionPrefix = "$share/"

    /// Checks a topic name as used in `PUBLISH`, a Will or a Response Topic: 1 to 65,535 UTF-8 bytes,
    /// no U+0000 and no wildcard characters (`+`, `#`).
    ///
    /// - Throws: ``MQTTError`` with code ``MQTTError/Code/invalidTopic``.
    public static func validateName(_ name: String) throws(MQTTError) {
        try self.validateName(name, allowEmpty: false)
    }

    static func validateName(_ name: String, allowEmpty: Bool) throws(MQTTError) {
        var name = name
        let problem: String? = name.withUTF8 { bytes in
            if bytes.isEmpty && !allowEmpty { return "topic name is empty" }
            if bytes.count > MQTTWire.maxFieldLength { return "topic name is longer than 65535 bytes" }
            for byte in bytes {
                switch byte {
                case 0: return "topic name contains U+0000"
                case UInt8(ascii: "+"), UInt8(ascii: "#"): return "topic name contains a wildcard"
                default: continue
                }
            }
            return nil
        }
        if let problem {
            throw MQTTError.invalidTopicName(problem)
        }
    }

    /// Checks a topic filter as used in `SUBSCRIBE` and `UNSUBSCRIBE`: 1 to 65,535 UTF-8 bytes, no U+0000,
    /// `+` only as a whole level, `#` only as the whole last level, and a shared subscription
    /// (`$share/{ShareName}/{filter}`) with a non-empty share name free of `/`, `+`, `#` and a
    /// non-empty valid filter after it.
    ///
    /// - Throws: ``MQTTError`` with code ``MQTTError/Code/invalidTopic``.
    public static func validateFilter(_ filter: String) throws(MQTTError) {
        var filter = filter
        let problem: String? = filter.withUTF8 { bytes in
            if bytes.count > MQTTWire.maxFieldLength { return "topic filter is longer than 65535 bytes" }
            var body = bytes[...]
            if bytes.starts(with: Self.sharedPrefixBytes) {
                body = bytes[Self.sharedPrefixBytes.count...]
                guard let slash = body.firstIndex(of: UInt8(ascii: "/")) else {
                    return "shared subscription without a filter"
                }
                let shareName = body[..<slash]
                if shareName.isEmpty { return "shared subscription with an empty share name" }
                if shareName.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }) {
                    return "share name contains a wildcard"
                }
                body = body[(slash + 1)...]
            }
            return Self.filterProblem(body)
        }
        if let problem {
            throw MQTTError.invalidTopicFilter(problem)
        }
    }

    private static let sharedPrefixBytes = Array(sharedSubscriptionPrefix.utf8)

    private static func filterProblem(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
        do {
            _ = try TopicPattern(utf8: bytes)
            return nil
        } catch {
            switch error {
            case .empty: return "topic filter is empty"
            case .tooLong: return "topic filter is longer than 65535 bytes"
            case .nul: return "topic filter contains U+0000"
            case .wildcardNotWholeLevel: return "wildcard does not occupy a whole level"
            case .hashNotLast: return "multi-level wildcard is not the last level"
            }
        }
    }

    /// Whether a topic name matches a topic filter (MQTT 5 §4.7): `+` matches one level, `#` matches
    /// the parent level and any number of levels below, and a filter starting with a wildcard does not
    /// match a name starting with `$`. A shared subscription filter matches like the filter after its
    /// share name. Invalid filters match nothing.
    public static func matches(name: String, filter: String) -> Bool {
        guard let pattern = pattern(ofFilter: filter) else { return false }
        return pattern.matches(name)
    }

    /// The compiled filter that routing matches with: the filter after the share name of a shared subscription;
    /// nil for an invalid filter.
    static func pattern(ofFilter filter: String) -> TopicPattern? {
        guard (try? validateFilter(filter)) != nil else { return nil }
        var body = filter.utf8[...]
        if body.starts(with: sharedPrefixBytes) {
            body = body.dropFirst(sharedPrefixBytes.count)
            if let slash = body.firstIndex(of: UInt8(ascii: "/")) { body = body[body.index(after: slash)...] }
        }
        return try? TopicPattern(utf8: body)
    }
}

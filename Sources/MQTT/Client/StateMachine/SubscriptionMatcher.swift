import TopicFilters

/// A topic filter prepared for matching many topic names cheaply.
enum TopicMatcher: Sendable {
    /// A filter without wildcards: byte equality (not `String ==`, which equates canonically equivalent text).
    case exact(String)
    /// `#`: everything except `$` topics.
    case all
    /// Anything else, compiled once (no validation or splitting per message).
    case pattern(TopicPattern)
    /// An invalid filter: matches nothing.
    case none

    init(filter: String) {
        guard let pattern = MQTTTopic.pattern(ofFilter: filter) else {
            self = .none
            return
        }
        if pattern.levels == [.hash] {
            self = .all
        } else if pattern.isExact {
            self = .exact(String(decoding: pattern.bytes, as: UTF8.self))
        } else {
            self = .pattern(pattern)
        }
    }

    func matches(_ topic: String) -> Bool {
        switch self {
        case .exact(let name): topic.utf8.elementsEqual(name.utf8)
        case .all: topic.utf8.first != UInt8(ascii: "$")
        case .pattern(let pattern): pattern.matches(topic)
        case .none: false
        }
    }
}

/// The filters of one subscription, prepared once for routing every incoming message: up to
/// ``trieThreshold`` filters are tried one by one; more go into one ``TopicFilterSet`` trie, so the cost of routing
/// a message does not grow with the number of filters.
package struct SubscriptionMatcher: Sendable {
    /// Up to this many filters are tried one by one (cheaper than a trie walk for a few).
    static let trieThreshold = 4

    private let matchers: [TopicMatcher]
    private let filterSet: TopicFilterSet?

    /// Prepares `filters` (shared-subscription prefixes removed; an invalid filter matches nothing).
    package init(filters: [String]) {
        if filters.count > Self.trieThreshold {
            matchers = []
            filterSet = TopicFilterSet(filters.compactMap(MQTTTopic.pattern(ofFilter:)))
        } else {
            matchers = filters.map(TopicMatcher.init(filter:))
            filterSet = nil
        }
    }

    /// Whether a message on `topic` belongs to the subscription.
    package func matches(_ topic: String) -> Bool {
        if let filterSet { return filterSet.matches(topic) }
        for matcher in matchers where matcher.matches(topic) { return true }
        return false
    }
}

import Testing
import TopicFilters

@testable import MQTT

struct ClientTopicMatcherTests {
    static let cases: [(filter: String, topic: String, matches: Bool)] = [
        ("a/b", "a/b", true), ("a/b", "a/c", false), ("a/b", "a/b/c", false),
        ("#", "a/b", true), ("#", "$SYS/x", false), ("a/#", "a", true), ("a/#", "a/b/c", true),
        ("a/+", "a/b", true), ("a/+", "a/b/c", false), ("+/b", "$x/b", false),
        ("$share/g/a/b", "a/b", true), ("$share/g/a/b", "a/c", false), ("$share/g/a/#", "a/x/y", true),
        ("$share/g/#", "a", true), ("$SYS/#", "$SYS/broker", true),
    ]

    @Test(arguments: cases)
    func matcherAgreesWithTheSpecification(filter: String, topic: String, matches: Bool) {
        #expect(TopicMatcher(filter: filter).matches(topic) == matches)
        #expect(MQTTTopic.matches(name: topic, filter: filter) == matches)
    }
}

/// The trie that routes subscriptions of more than a few filters answers exactly like asking every filter.
struct ClientSubscriptionMatcherTests {
    /// SplitMix64: the same corpus on every run.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Literal levels, including an empty one, `$` levels and both Unicode spellings of "é" (NFC and NFD): MQTT
    /// compares bytes, so they are different levels.
    static let words = ["a", "b", "", "$SYS", "$x", "\u{E9}", "e\u{301}", "sensor-7"]

    static func filter(_ random: inout Generator) -> String {
        let count = Int.random(in: 1...4, using: &random)
        var levels: [String] = []
        for index in 0..<count {
            switch Int.random(in: 0..<10, using: &random) {
            case 0, 1: levels.append("+")
            case 2 where index == count - 1: levels.append("#")
            default: levels.append(words.randomElement(using: &random)!)
            }
        }
        let filter = levels.joined(separator: "/")
        return Int.random(in: 0..<8, using: &random) == 0 ? "$share/g/\(filter)" : filter
    }

    static func topic(_ random: inout Generator) -> String {
        let count = Int.random(in: 1...5, using: &random)
        let topic = (0..<count).map { _ in words.randomElement(using: &random)! }.joined(separator: "/")
        return topic.isEmpty ? "/" : topic  // the empty string is not a topic name
    }

    @Test func theTrieAgreesWithEveryFilterAskedInTurn() {
        var random = Generator(state: 0x5EA1)
        var compared = 0
        var matched = 0
        for _ in 0..<400 {
            let filters = (0..<Int.random(in: 1...24, using: &random)).map { _ in Self.filter(&random) }
            let matcher = SubscriptionMatcher(filters: filters)
            let trie = TopicFilterSet(filters.compactMap(MQTTTopic.pattern(ofFilter:)))
            var tagged = TopicFilterSet()
            for (index, filter) in filters.enumerated() {
                if let pattern = MQTTTopic.pattern(ofFilter: filter) { tagged.insert(pattern, tag: index) }
            }
            for topic in (0..<40).map({ _ in Self.topic(&random) }) {
                let expected = filters.contains { MQTTTopic.matches(name: topic, filter: $0) }
                #expect(matcher.matches(topic) == expected, "\(filters) on \(topic)")
                #expect(trie.matches(topic) == expected, "\(filters) on \(topic)")
                // The tags reported are exactly the indices of the filters that match, each once.
                let expectedTags = filters.indices.filter { MQTTTopic.matches(name: topic, filter: filters[$0]) }
                var tags: [Int] = []
                var name = topic
                name.withUTF8 { bytes in tagged.forEachMatch(utf8: bytes) { tags.append($0) } }
                #expect(tags.sorted() == expectedTags, "\(filters) on \(topic)")
                compared += 1
                if expected { matched += 1 }
            }
            // Not topic names (the decoder refuses them before routing): no filter matches them.
            for topic in ["", "a/+", "a/#", "+", "#", "a/\u{0}/b"] { #expect(!trie.matches(topic), "\(topic)") }
        }
        // The corpus exercises both answers, with many subscriptions above the trie threshold.
        #expect(compared == 400 * 40)
        #expect(matched > compared / 10 && matched < compared * 9 / 10)
    }

    /// A filter may have 32,768 levels; the trie keeps those deeper than its limit aside, so a match never
    /// recurses that deep.
    @Test func filtersDeeperThanTheTrieStillMatch() throws {
        let levels = 30_000
        let deepFilter = Array(repeating: "a", count: levels - 1).joined(separator: "/") + "/+"
        let deepTopic = Array(repeating: "a", count: levels).joined(separator: "/")
        let matcher = SubscriptionMatcher(filters: ["x/1", "x/2", "x/3", "x/4", deepFilter, "y/+"])
        #expect(matcher.matches(deepTopic))
        #expect(!matcher.matches(deepTopic + "/a"))
        #expect(matcher.matches("y/7") && matcher.matches("x/3") && !matcher.matches("x/5"))
        var set = TopicFilterSet()
        set.insert(try TopicPattern(deepFilter))
        set.insert(try TopicPattern(deepFilter), tag: 7)
        set.insert(try TopicPattern("a/#"), tag: 8)
        #expect(set.count == 2)
        #expect(set.matches(deepTopic) && set.matches("a") && !set.matches("b"))
        var tags: [Int] = []
        var topic = deepTopic
        topic.withUTF8 { bytes in set.forEachMatch(utf8: bytes) { tags.append($0) } }
        #expect(tags.sorted() == [7, 8])
    }

    @Test func aTrieOfTenThousandFiltersFindsTheOneThatMatches() {
        var filters = (0..<9_999).map { "site/\($0)/+/temperature" }
        filters.append("plant/+/press/#")
        let matcher = SubscriptionMatcher(filters: filters)
        #expect(matcher.matches("plant/line-1/press/17/telemetry"))
        #expect(matcher.matches("site/9998/x/temperature"))
        #expect(!matcher.matches("site/10000/x/temperature"))
        #expect(!matcher.matches("site/1/x/humidity"))
        #expect(!matcher.matches("plant/line-1/drill"))
    }
}

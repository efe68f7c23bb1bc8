import Testing

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

import MQTT
import Testing

@Suite struct CodecTopicTests {
    @Test(arguments: ["a", "/", "a/b/c", "sport/tennis/player1", "$SYS/broker", " ", "A\u{2A6D4}", "a//b"])
    func validNames(name: String) {
        #expect(throws: Never.self) { try MQTTTopic.validateName(name) }
    }

    @Test(arguments: [
        "#", "+", "a/#", "a/+/b", "sport/tennis/#", "+/tennis/#", "/+", "$share/g/#", "$share/group/a/+/c", "a//b",
        "$share",
    ])
    func validFilters(filter: String) {
        #expect(throws: Never.self) { try MQTTTopic.validateFilter(filter) }
    }

    @Test(arguments: ["sport/tennis#", "sport/tennis/#/ranking", "sport+", "a/b+/c", "#/a", "$share/g+x/a", "$share/g"])
    func invalidFilters(filter: String) {
        expectMQTTError(.invalidTopic, reasonCode: .topicFilterInvalid) {
            try MQTTTopic.validateFilter(filter)
        }
    }

    /// Matching examples of MQTT 5 §4.7.1 and §4.7.2.
    @Test(arguments: [
        ("sport/tennis/player1", "sport/tennis/player1/#", true),
        ("sport/tennis/player1/ranking", "sport/tennis/player1/#", true),
        ("sport/tennis/player1/score/wimbledon", "sport/tennis/player1/#", true),
        ("sport", "sport/#", true),
        ("sport/tennis/player1", "sport/tennis/+", true),
        ("sport/tennis/player1/ranking", "sport/tennis/+", false),
        ("sport", "sport/+", false),
        ("sport/", "sport/+", true),
        ("/finance", "+/+", true),
        ("/finance", "/+", true),
        ("/finance", "+", false),
        ("$SYS/monitor/Clients", "#", false),
        ("$SYS/monitor/Clients", "+/monitor/Clients", false),
        ("$SYS/monitor/Clients", "$SYS/#", true),
        ("$SYS/monitor/Clients", "$SYS/monitor/+", true),
        ("a/b", "$share/g/a/+", true),
        ("a/b", "a/b", true),
        ("a/b", "a/c", false),
        ("a/b", "a/b/#", true),
        ("a/b", "a/#/b", false),
    ])
    func matching(name: String, filter: String, expected: Bool) {
        #expect(MQTTTopic.matches(name: name, filter: filter) == expected)
    }
}

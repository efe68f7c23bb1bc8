import Testing

@testable import Seal
@testable import SealKeyring

@Suite struct KeyringTopicFilterTests {
    // Matching cases from MQTT 3.1.1 §4.7.1 and §4.7.2 (the spec's own examples).
    @Test(arguments: [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("#", "a/b/c", true),
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("#", "$SYS/broker", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/monitor/Clients", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("a/b", "a/b", true),
        ("a/b", "a/b/c", false),
        ("a/b", "a", false),
        ("a/+/c", "a/x/c", true),
        ("a/+/c", "a/x/d", false),
        ("a/#", "b/a", false),
    ])
    func matching(filter: String, topic: String, expected: Bool) throws {
        #expect(try TopicFilter(filter).matches(topic) == expected)
    }

    @Test(arguments: ["", "a/#/b", "a#", "a/b#", "+a", "a/+b", "a\u{0}b", "##", "++"])
    func malformedFiltersAreRejected(filter: String) {
        #expect {
            try TopicFilter(filter)
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .invalidArgument && !error.message.contains("\n")
        }
    }

    @Test func overlongFilterIsRejected() {
        let long = String(repeating: "a", count: TopicFilter.maximumLength + 1)
        #expect(throws: KeyringError.self) { try TopicFilter(long) }
        #expect(throws: Never.self) { try TopicFilter(String(repeating: "a", count: TopicFilter.maximumLength)) }
    }

    @Test(arguments: ["", "a/+", "a/#", "a\u{0}"])
    func malformedTopicsAreRejected(topic: String) {
        #expect {
            try TopicFilter.validateTopic(topic)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
    }

    @Test func wildcardTopicNeverMatches() throws {
        #expect(!(try TopicFilter("#")).matches("a/+"))
        #expect(!(try TopicFilter("a/+")).matches("a/#"))
    }

    @Test func specificityOrder() throws {
        // For topic a/b every filter below matches; each is more specific than the next.
        let ordered = ["a/b", "a/+", "a/#", "+/b", "+/+", "+/#", "#"]
        let filters = try ordered.map { try TopicFilter($0) }
        for filter in filters { #expect(filter.matches("a/b")) }
        for (index, filter) in filters.enumerated() {
            for later in filters[(index + 1)...] {
                #expect(filter.isMoreSpecific(than: later), "\(filter) should beat \(later)")
                #expect(!later.isMoreSpecific(than: filter), "\(later) should not beat \(filter)")
            }
        }
        // Exact end beats '#' that also matches the parent.
        #expect(try TopicFilter("a/b").isMoreSpecific(than: TopicFilter("a/b/#")))
    }

    @Test func scopeIsSortedAndDeduplicated() throws {
        let scope = try TopicScope(parsing: ["b/#", "a/+", "b/#"])
        #expect(scope.filters.map(\.string) == ["a/+", "b/#"])
        #expect(scope == (try TopicScope(parsing: ["a/+", "b/#"])))
        #expect(TopicScope([]) == .all)
        #expect(scope.matches("b/x/y") && scope.matches("a/x") && !scope.matches("c"))
    }

    @Test(arguments: [
        "2026-02-30T00:00:00Z", "2026-1-01T00:00:00Z", "2026-01-01T00:00:00+01:00", "2026-01-01 00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-13-01T00:00:00Z", "1969-12-31T23:59:59Z", "2026-01-01T00:00:00.5Z", "",
        "２026-01-01T00:00:00Z",
    ])
    func malformedDatesAreRejected(text: String) {
        #expect {
            try KeyringTime.parse(text)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
    }

    @Test(arguments: ["1970-01-01T00:00:00Z", "2000-02-29T12:34:56Z", "2026-11-25T10:00:00Z", "9999-12-31T23:59:59Z"])
    func datesRoundTrip(text: String) throws {
        #expect(KeyringTime.format(try KeyringTime.parse(text)) == text)
    }

    @Test func dateValue() throws {
        #expect(try KeyringTime.parse("2000-03-01T00:00:01Z").timeIntervalSince1970 == 951_868_801)
    }

    @Test(arguments: ["", "1234567", "123456789", "0x1234567g", "00000000", "0x00000000", "-1234567", " 1234567"])
    func malformedIDsAreRejected(text: String) {
        #expect {
            try KeyringID.parse(text)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
    }

    @Test func idsRoundTrip() throws {
        #expect(try KeyringID.parse("0x1A2B3C4D") == 0x1a2b_3c4d)
        #expect(try KeyringID.parse("deadbeef") == 0xdead_beef)
        #expect(KeyringID.format(0x0000_00ff) == "000000ff")
    }
}

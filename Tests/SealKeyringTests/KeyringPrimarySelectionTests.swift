import Seal
import Testing

@testable import SealKeyring

/// Primary selection among many keys goes through an index of the primaries' filters; it must choose exactly as a
/// scan of every primary does.
@Suite struct KeyringPrimarySelectionTests {
    @Test func manyPrimariesOnNestedAndDisjointFiltersSelectTheMostSpecific() throws {
        var keyring = Keyring()
        var zones: [UInt32] = []
        for zone in 0..<300 { zones.append(try keyring.addKey(scope: TopicScope(parsing: ["zone/\(zone)/#"]))) }
        let everything = try keyring.addKey(scope: .all)
        let anyZone = try keyring.addKey(scope: TopicScope(parsing: ["zone/#"]))
        let anyTemperature = try keyring.addKey(scope: TopicScope(parsing: ["zone/+/temperature"]))
        // One key on two filters, the second the most specific for zone/7/door.
        let door = try keyring.addKey(scope: TopicScope(parsing: ["doors/#", "zone/7/door"]))
        for kid in zones + [everything, anyZone, anyTemperature, door] { try keyring.promote(kid) }
        let snapshot = KeyringSnapshot(keyring)
        #expect(try snapshot.primaryKey(for: "zone/7/door").kid == door)
        #expect(try snapshot.primaryKey(for: "zone/7/window").kid == zones[7])
        #expect(try snapshot.primaryKey(for: "zone/299").kid == zones[299])  // `#` matches its parent level
        // zone/+/temperature and zone/12/# both match: the literal second level is the more specific.
        #expect(try snapshot.primaryKey(for: "zone/12/temperature").kid == zones[12])
        #expect(try snapshot.primaryKey(for: "zone/300/temperature").kid == anyTemperature)
        #expect(try snapshot.primaryKey(for: "zone/300/humidity").kid == anyZone)
        #expect(try snapshot.primaryKey(for: "doors/front").kid == door)
        #expect(try snapshot.primaryKey(for: "elsewhere").kid == everything)
        // Asked again (now from the per-topic memory), the same answers.
        #expect(try snapshot.primaryKey(for: "zone/12/temperature").kid == zones[12])
        #expect { try snapshot.primaryKey(for: "$SYS/zone") } throws: { ($0 as! KeyringError).code == .noPrimary }
    }
}

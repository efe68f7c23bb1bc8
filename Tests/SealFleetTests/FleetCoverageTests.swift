import SealFleet
import SealKeyring
import Testing

/// `currentCoverage` is kept as counts updated by every change (the bench asks it after every ack: recounting
/// 10,000 members per ack was quadratic); these tests hold the counts to a recount at every step.
@Suite struct FleetCoverageTests {
    /// Counts the members one by one, as the counts must say.
    static func recount(_ authority: FleetAuthority) -> (current: Int, total: Int) {
        let active = authority.registry.members.filter { $0.state == .active }
        return (active.filter(\.isCurrent).count, active.count)
    }

    static func expectCounts(
        _ authority: FleetAuthority, _ current: Int, _ total: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let counted = recount(authority)
        #expect(counted == (current, total), "recount", sourceLocation: sourceLocation)
        #expect(authority.currentCoverage == counted, "kept counts", sourceLocation: sourceLocation)
    }

    @Test func countsFollowEnrolPublishAckRotateAndRevoke() throws {
        var fleet = try FleetFixture()
        for index in 0..<5 { try fleet.enroll("d-\(index)", read: ["plant/#"]) }
        Self.expectCounts(fleet.authority, 0, 5)

        try fleet.deliver()
        Self.expectCounts(fleet.authority, 5, 5)

        // Staged rotation: new slots published, no acks yet.
        _ = try fleet.authority.stageRotation()
        let publications = try fleet.authority.publications()
        #expect(publications.count == 5)
        Self.expectCounts(fleet.authority, 0, 5)

        // Two devices acknowledge; an ack for a sequence never published changes nothing.
        for publication in publications.prefix(2) {
            let device = try #require(fleet.devices[publication.device])
            _ = try device.apply(publication.payload)
            try fleet.authority.record(report: device.report(.ack).payload)
        }
        Self.expectCounts(fleet.authority, 2, 5)

        // Revoking a current device takes it out of both counts; a device behind only out of the total.
        let current = try #require(publications.first?.device)
        let behind = try #require(publications.last?.device)
        _ = try fleet.authority.revoke(current)
        Self.expectCounts(fleet.authority, 1, 4)
        _ = try fleet.authority.revoke(behind)
        Self.expectCounts(fleet.authority, 1, 3)

        // Marking a device undelivered does not change what it acknowledged.
        fleet.authority.markUndelivered(fleet.authority.registry.members.map(\.device))
        Self.expectCounts(fleet.authority, 1, 3)
    }

    @Test func countsSurviveSaveAndLoad() throws {
        let dir = FleetTempDir()
        let credential = try KeyringCredential.generateKeyEncryptionKeyFile(dir.file("kek"))
        let store = FleetStore(path: dir.file("authority.keyring"), credential: credential)
        let authorityKey = try store.create(topics: FleetTopics(), kdf: .minimum)
        var authority = try store.load()
        var devices: [String: FleetDeviceKeyring] = [:]
        for index in 0..<4 {
            let file = KeyringFile(path: dir.file("d-\(index).keyring"))
            let request = try FleetDeviceKeyring.create(
                file: file, credential: credential, device: "d-\(index)", authority: authorityKey, kdf: .minimum)
            devices["d-\(index)"] = FleetDeviceKeyring(file: file, credential: credential)
            try authority.enroll(request, read: [try TopicFilter("plant/#")], write: [])
        }
        let publications = try authority.publications()
        #expect(publications.count == 4)
        for publication in publications where publication.device != "d-3" {
            let device = try #require(devices[publication.device])
            _ = try device.apply(publication.payload)
            try authority.record(report: device.report(.ack).payload)
        }
        _ = try authority.revoke("d-0")
        try store.save(authority)

        let loaded = try store.load()
        Self.expectCounts(loaded, 2, 3)
    }
}

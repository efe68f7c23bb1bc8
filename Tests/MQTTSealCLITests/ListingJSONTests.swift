import Foundation
import LocalBroker
import Testing

/// `--json` on every listing: `fleet list`, `fleet status`, `device status` (and `keys list`, tested with the keys
/// commands).
@Suite("mqtt-seal listings with --json", .serialized)
struct ListingJSONTests {
    static func object(_ result: CLIResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], "\(result.out)")
    }

    @Test func fleetAndDeviceListingsAsJSON() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let endpoint = SealedPubSubTests.endpoint(broker)
        let work = try FleetCLITests.Workspace()
        let authorityKey = try work.initialise()
        let request = try work.device("meter-1", authorityKey: authorityKey)
        let enrolled = try CLIRunner.run(["fleet", "enroll", request, "--read", "plant/#"] + work.authority + endpoint)
        #expect(enrolled.status == 0, "\(enrolled.err)")
        let sync = try CLIRunner.run(["device", "sync"] + work.keyring("meter-1") + endpoint)
        #expect(sync.status == 0, "\(sync.err)")

        let list = try CLIRunner.run(["fleet", "list", "--json"] + work.authority)
        #expect(list.status == 0, "\(list.err)")
        let devices = try #require(try Self.object(list)["devices"] as? [[String: Any]])
        #expect(devices.count == 1)
        #expect(devices.first?["device"] as? String == "meter-1")
        #expect(devices.first?["read"] as? [String] == ["plant/#"])
        #expect(devices.first?["write"] as? [String] == [])
        #expect(devices.first?["state"] as? String == "active")

        let status = try CLIRunner.run(["fleet", "status", "--json"] + work.authority + endpoint)
        #expect(status.status == 0, "\(status.err)")
        let coverage = try Self.object(status)
        let keys = try #require(coverage["keys"] as? [[String: Any]])
        #expect(!keys.isEmpty)
        #expect(keys.allSatisfy { ($0["kid"] as? String)?.count == 8 && $0["entitled"] is Int })
        #expect(coverage["behind"] as? [String] != nil && coverage["silent"] as? [String] != nil)

        let device = try CLIRunner.run(["device", "status", "--json"] + work.keyring("meter-1"))
        #expect(device.status == 0, "\(device.err)")
        let state = try Self.object(device)
        #expect(state["device"] as? String == "meter-1")
        #expect((state["authorities"] as? [String])?.count == 1)
        #expect(!((state["keys"] as? [[String: Any]]) ?? []).isEmpty)
        #expect(!device.out.contains("PRIVATE") && !device.out.contains("secret"))
    }
}

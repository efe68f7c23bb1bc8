import Seal
import SealFleet
import SealKeyring
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Key slots end to end without a broker: enrolment, least privilege, hostile slots, rotation and revocation.
@Suite struct FleetSlotTests {
    /// A reader of `plant/7/#` and a writer on `plant/7/telemetry`.
    func plant7() throws -> FleetFixture {
        var fleet = try FleetFixture()
        try fleet.enroll("reader", read: ["plant/7/#"])
        try fleet.enroll("writer", write: ["plant/7/telemetry"])
        try fleet.enroll("other", read: ["plant/8/#"], write: ["plant/8/telemetry"])
        try fleet.deliver()
        return fleet
    }

    func snapshot(_ fleet: FleetFixture, _ device: String) throws -> KeyringSnapshot {
        KeyringSnapshot(try #require(fleet.devices[device]).load())
    }

    @Test func enrolledDevicesReceiveExactlyTheirKeysAndWriters() throws {
        let fleet = try plant7()
        let reader = try fleet.devices["reader"]!.load()
        let writer = try fleet.devices["writer"]!.load()
        #expect(Set(reader.keys.map(\.scope.description)) == ["[plant/7/#]", "[plant/7/telemetry]"])
        #expect(writer.keys.map(\.scope.description) == ["[plant/7/telemetry]"])
        #expect(reader.signers.map(\.name) == ["writer"])
        #expect(writer.signers.isEmpty)
        #expect(reader.device?.sequence ?? 0 > 0)

        // A signed message from the writer opens at the reader, and the writer's key is the topic's most specific.
        let sealer = try KeyringSnapshot(writer).sealer(for: "plant/7/telemetry", sign: true)
        let envelope = try sealer.seal(Array("21.5".utf8), topic: "plant/7/telemetry")
        let opened = try Opener(keys: KeyringSnapshot(reader)).open(envelope, topic: "plant/7/telemetry")
        #expect(opened.payload == Array("21.5".utf8))
        #expect(opened.senderID == writer.deviceIdentity?.sid)
    }

    @Test func aGrantOnPlant7YieldsNoKeyThatOpensPlant8() throws {
        let fleet = try plant7()
        let other = try fleet.devices["other"]!.load()
        let envelope = try KeyringSnapshot(other).sealer(for: "plant/8/telemetry", sign: true)
            .seal(Array("x".utf8), topic: "plant/8/telemetry")
        for device in ["reader", "writer"] {
            let keyring = try fleet.devices[device]!.load()
            #expect(!keyring.keys.contains { key in key.scope.matches("plant/8/telemetry") })
            #expect(throws: SealError.self) {
                try Opener(keys: KeyringSnapshot(keyring)).open(envelope, topic: "plant/8/telemetry")
            }
        }
    }

    @Test func aWriterCannotForgeOutsideItsWriteGrant() throws {
        var fleet = try plant7()
        // The writer also reads plant/8 (so it holds that key), but may write only plant/7/telemetry.
        try fleet.authority.grant("writer", read: [TopicFilter("plant/8/#")], write: [])
        try fleet.enroll("reader8", read: ["plant/8/#"])
        try fleet.deliver()
        let writer = try fleet.devices["writer"]!.load()
        let forged = try KeyringSnapshot(writer).sealer(for: "plant/8/telemetry", sign: true)
            .seal(Array("forged".utf8), topic: "plant/8/telemetry")
        let reader8 = try fleet.devices["reader8"]!.load()
        #expect(throws: SealError.self) {
            try Opener(keys: KeyringSnapshot(reader8)).open(forged, topic: "plant/8/telemetry")
        }
        // The same writer's signature on its own grant is accepted by a reader of it.
        let genuine = try KeyringSnapshot(writer).sealer(for: "plant/7/telemetry", sign: true)
            .seal(Array("ok".utf8), topic: "plant/7/telemetry")
        let reader = try fleet.devices["reader"]!.load()
        #expect(try Opener(keys: KeyringSnapshot(reader)).open(genuine, topic: "plant/7/telemetry").payload.count == 2)
    }

    @Test func hostileSlotsAreRejectedAndTheKeyringStaysUnchanged() throws {
        var fleet = try plant7()
        let reader = fleet.devices["reader"]!
        let old = try #require(try fleet.authority.publications(all: true).first { $0.device == "reader" })
        try fleet.deliver(all: true)
        let before = try Data(contentsOf: URL(fileURLWithPath: reader.file.path))

        // A replayed older slot.
        expectRejected(.staleSequence) { _ = try reader.apply(old.payload) }
        // A genuine slot for another device, re-addressed to this one.
        let forWriter = try #require(try fleet.authority.publications(all: true).first { $0.device == "writer" })
        expectRejected(.wrongDevice) { _ = try reader.apply(forWriter.payload) }
        // A slot signed by a key the device does not pin.
        var rogueKeyring = Keyring()
        try rogueKeyring.newSigningIdentity(name: FleetAuthority.identityName)
        var rogue = try FleetAuthority(keyring: rogueKeyring, registry: fleet.authority.registry)
        let forged = try #require(try rogue.publications(all: true).first { $0.device == "reader" })
        expectRejected(.unknownAuthority) { _ = try reader.apply(forged.payload) }
        // A genuine fresh slot with one flipped byte anywhere, and every truncation.
        let fresh = try #require(try fleet.authority.publications(all: true).first { $0.device == "reader" })
        var rejected = 0
        for offset in fresh.payload.indices {
            var bytes = fresh.payload
            bytes[offset] ^= 0x01
            if Self.rejection(reader, bytes) != nil { rejected += 1 }
        }
        #expect(rejected == fresh.payload.count)
        for length in 0..<fresh.payload.count {
            #expect(Self.rejection(reader, Array(fresh.payload[..<length])) == .malformed)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: reader.file.path)) == before)
        // The untouched slot still applies.
        #expect(try reader.apply(fresh.payload) != .alreadyApplied(sequence: 0))
    }

    @Test func rotationStagesThenPromotesAndOldMessagesStillOpen() throws {
        var fleet = try plant7()
        let writerBefore = try fleet.devices["writer"]!.load()
        let oldEnvelope = try KeyringSnapshot(writerBefore).sealer(for: "plant/7/telemetry", sign: true)
            .seal(Array("old".utf8), topic: "plant/7/telemetry")
        let staged = try fleet.authority.stageRotation(topics: [TopicFilter("plant/7/#")])
        #expect(staged.count == 2)
        try fleet.deliver()
        let sequence = fleet.authority.registry.sequence
        #expect(fleet.authority.coverage(since: sequence - 2).acked == 3)
        try fleet.authority.promote(staged, grace: .seconds(3600))
        try fleet.deliver()
        let writer = try fleet.devices["writer"]!.load()
        let primary = try #require(writer.keys.first { $0.state == .primary })
        #expect(staged.contains(primary.kid))
        let reader = try fleet.devices["reader"]!.load()
        let opener = Opener(keys: KeyringSnapshot(reader), replayGuard: nil)
        #expect(try opener.open(oldEnvelope, topic: "plant/7/telemetry").payload == Array("old".utf8))
        let newEnvelope = try KeyringSnapshot(writer).sealer(for: "plant/7/telemetry", sign: true)
            .seal(Array("new".utf8), topic: "plant/7/telemetry")
        #expect(try opener.open(newEnvelope, topic: "plant/7/telemetry").keyID == primary.kid)
        // plant/8 was not rotated.
        #expect(try fleet.devices["other"]!.load().keys.allSatisfy { !staged.contains($0.kid) })
    }

    @Test func revokedReaderOpensNothingSealedAfterAndItsSignaturesFail() throws {
        var fleet = try plant7()
        try fleet.authority.grant("reader", read: [], write: [TopicFilter("plant/7/status")])
        try fleet.enroll("reader2", read: ["plant/7/#"])
        try fleet.deliver()
        let revokedCopy = try fleet.devices["reader"]!.load()
        let staged = try fleet.authority.revoke("reader")
        #expect(!staged.isEmpty)
        let phase1 = try fleet.deliver()
        #expect(phase1.contains { $0.device == "reader" && $0.payload.isEmpty })
        try fleet.authority.promote(staged, grace: .zero)
        try fleet.deliver()
        let writer = try fleet.devices["writer"]!.load()
        let after = try KeyringSnapshot(writer).sealer(for: "plant/7/telemetry", sign: true)
            .seal(Array("after".utf8), topic: "plant/7/telemetry")
        #expect(throws: SealError.self) {
            try Opener(keys: KeyringSnapshot(revokedCopy)).open(after, topic: "plant/7/telemetry")
        }
        let reader2 = try fleet.devices["reader2"]!.load()
        #expect(try Opener(keys: KeyringSnapshot(reader2)).open(after, topic: "plant/7/telemetry").payload.count == 5)
        // The revoked device's signature on its former write grant is refused by the remaining reader.
        let forged = try KeyringSnapshot(revokedCopy).sealer(for: "plant/7/status", sign: true)
            .seal(Array("x".utf8), topic: "plant/7/status")
        #expect(throws: SealError.self) {
            try Opener(keys: KeyringSnapshot(reader2)).open(forged, topic: "plant/7/status")
        }
        #expect(!reader2.signers.contains { $0.name == "reader" })
    }

    /// The reason a device refuses a slot, or nil when it takes it.
    static func rejection(_ device: FleetDeviceKeyring, _ bytes: [UInt8]) -> FleetError.SlotRejection? {
        do {
            _ = try device.apply(bytes)
            return nil
        } catch {
            return error.code == .slotRejected ? error.rejection : nil
        }
    }

    @Test func enrolmentRequestsAreVerified() throws {
        let fleet = try FleetFixture()
        let file = KeyringFile(path: fleet.dir.file("d.keyring"))
        let request = try FleetDeviceKeyring.create(
            file: file, credential: fleet.credential, device: "d-1", authority: fleet.authorityKey)
        #expect(try EnrolmentRequest.decode(request.encode()) == request)
        var text = request.encode()
        text = text.replacingOccurrences(of: "\"device\":\"d-1\"", with: "\"device\":\"d-2\"")
        #expect(throws: FleetError.self) { try EnrolmentRequest.decode(text) }
        #expect(throws: FleetError.self) { try EnrolmentRequest.decode("{\"format\":1}") }
        #expect(throws: FleetError.self) { try EnrolmentRequest.decode("") }
    }
}

import Foundation
import NIOCore
import Testing

@testable import MQTT

/// The on-disk session store without a broker: its log survives torn writes, refuses what is not its own, and the
/// state machine reports every change of an outgoing or incoming flow to it.
@Suite("Session store")
struct SessionStoreTests {
    /// A fresh folder for one store, removed afterwards.
    final class Folder {
        let path: String
        init() {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-store-\(UUID().uuidString)").path
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        var log: String { path + "/session.log" }
    }

    static func options(_ folder: Folder, threshold: Int = 4 << 20) -> MQTTSessionStoreOptions {
        MQTTSessionStoreOptions(directory: folder.path, durability: .processCrash, compactionThreshold: threshold)
    }

    static func publish(_ text: String, qos: MQTTQoS = .atLeastOnce) -> MQTTPublish {
        var properties = MQTTProperties()
        properties.contentType = "text/plain"
        properties.userProperties = [MQTTUserProperty(name: "n", value: text)]
        return MQTTPublish(
            topic: "store/\(text)", payload: ByteBuffer(string: text), qos: qos, retain: text.hasPrefix("r"),
            properties: properties)
    }

    /// Every kind of record, as a store writes them while flows run.
    static let records: [SessionRecord] = [
        .accepted(key: 1, StoredPublish(publish("a"))),
        .accepted(key: 2, StoredPublish(publish("r-b", qos: .exactlyOnce))),
        .assigned(key: 1, packetIdentifier: 7),
        .assigned(key: 2, packetIdentifier: 8),
        .released(key: 2),
        .incomingReceived(packetIdentifier: 40),
        .incomingReceived(packetIdentifier: 41),
        .incomingReleased(packetIdentifier: 40),
        .finished(key: 1),
        .accepted(key: 3, StoredPublish(publish("c"))),
    ]

    static func session(_ records: some Sequence<SessionRecord>) -> RecoveredSession {
        var session = RecoveredSession()
        for record in records { session.apply(record) }
        return session
    }

    // MARK: - The log format

    @Test func everyRecordKindReadsBackAsWritten() {
        var buffer = ByteBuffer()
        for record in Self.records { SessionLogFormat.append(record, to: &buffer) }
        let replay = SessionLogFormat.replay(buffer)
        #expect(replay.records == Self.records)
        #expect(!replay.droppedTail)
        #expect(replay.validLength == buffer.readableBytes)
    }

    @Test func replayingTheRecordsRebuildsTheSession() {
        let session = Self.session(Self.records)
        #expect(session.outgoing.map(\.key) == [2, 3])
        #expect(session.outgoing.map(\.packetIdentifier) == [8, nil])
        #expect(session.outgoing.map(\.released) == [true, false])
        #expect(session.incomingQoS2 == [41])
        #expect(session.lastKey == 3)
        #expect(session.lastPacketIdentifier == 8)
        // Compaction writes `records`: they rebuild the same state.
        #expect(Self.session(session.records).outgoing == session.outgoing)
        #expect(Self.session(session.records).incomingQoS2 == session.incomingQoS2)
    }

    /// A crash in the middle of the last write leaves any prefix of its bytes: opening keeps everything before it.
    @Test func aLogTornAtEveryOffsetOfItsLastRecordRecoversEverythingBefore() throws {
        let folder = Folder()
        let store = try SessionStore(options: Self.options(folder), clientID: "torn")
        let keys = try store.accept([Self.publish("one"), Self.publish("two", qos: .exactlyOnce)])
        #expect(keys == [1, 2])
        store.append(.assigned(key: 1, packetIdentifier: 1))
        store.append(.assigned(key: 2, packetIdentifier: 2))
        store.append(.finished(key: 1))
        try store.commit()
        let before = try Data(contentsOf: URL(fileURLWithPath: folder.log))
        _ = try store.accept([Self.publish("last")])
        store.close()
        let full = try Data(contentsOf: URL(fileURLWithPath: folder.log))
        #expect(full.count > before.count)

        for cut in before.count..<full.count {
            let copy = Folder()
            try FileManager.default.createDirectory(atPath: copy.path, withIntermediateDirectories: true)
            try full.prefix(cut).write(to: URL(fileURLWithPath: copy.log))
            let reopened = try SessionStore(options: Self.options(copy), clientID: "torn")
            #expect(reopened.droppedTornTail == (cut != before.count), "cut at \(cut)")
            #expect(reopened.session.outgoing.map(\.key) == [2], "cut at \(cut)")
            #expect(reopened.session.outgoing.first?.packetIdentifier == 2)
            // The torn bytes are gone from the file: new records follow the last whole one.
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy.log)) == before, "cut at \(cut)")
            #expect(try reopened.accept([Self.publish("again")]) == [3])
            reopened.close()
        }
        // The whole log keeps the last record.
        let whole = try SessionStore(options: Self.options(folder), clientID: "torn")
        #expect(whole.session.outgoing.map(\.key) == [2, 3])
        #expect(!whole.droppedTornTail)
    }

    @Test func aFlippedByteInTheLastRecordDropsOnlyThatRecord() throws {
        let folder = Folder()
        let store = try SessionStore(options: Self.options(folder), clientID: "flip")
        _ = try store.accept([Self.publish("one")])
        _ = try store.accept([Self.publish("two")])
        store.close()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: folder.log))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: folder.log))
        let reopened = try SessionStore(options: Self.options(folder), clientID: "flip")
        #expect(reopened.droppedTornTail)
        #expect(reopened.session.outgoing.map { String(buffer: $0.publish.payload) } == ["one"])
    }

    @Test func aStoreIsReopenedWithItsMessagesAndTheirProperties() throws {
        let folder = Folder()
        let store = try SessionStore(options: Self.options(folder), clientID: "same")
        _ = try store.accept([Self.publish("r-kept", qos: .exactlyOnce)])
        store.close()
        let reopened = try SessionStore(options: Self.options(folder), clientID: "same")
        let kept = try #require(reopened.session.outgoing.first)
        #expect(kept.publish == StoredPublish(Self.publish("r-kept", qos: .exactlyOnce)))
        #expect(kept.publish.retain)
        #expect(kept.publish.properties.contentType == "text/plain")
    }

    // MARK: - Refusals

    @Test func aStoreOfAnotherClientIDIsRefused() throws {
        let folder = Folder()
        try SessionStore(options: Self.options(folder), clientID: "owner").close()
        #expect(throws: MQTTError.client(.sessionStoreMismatch, .unspecifiedError, "")) {
            try SessionStore(options: Self.options(folder), clientID: "intruder")
        }
        // Byte-exact: a canonically equivalent id (NFD "é" for NFC "é") is another client id in MQTT.
        try SessionStore(options: Self.options(folder), clientID: "owner").close()
        let nfc = Folder()
        try SessionStore(options: Self.options(nfc), clientID: "caf\u{E9}").close()
        #expect(throws: MQTTError.client(.sessionStoreMismatch, .unspecifiedError, "")) {
            try SessionStore(options: Self.options(nfc), clientID: "cafe\u{301}")
        }
    }

    @Test func aStoreInUseIsRefusedUntilItIsReleased() throws {
        let folder = Folder()
        let first = try SessionStore(options: Self.options(folder), clientID: "busy")
        #expect(throws: MQTTError.client(.sessionStoreFailed, .unspecifiedError, "")) {
            try SessionStore(options: Self.options(folder), clientID: "busy")
        }
        first.close()
        try SessionStore(options: Self.options(folder), clientID: "busy").close()
    }

    @Test func aDamagedHeaderOrAnotherFileIsRefusedAndAnUnfinishedOneStartsOver() throws {
        let folder = Folder()
        try SessionStore(options: Self.options(folder), clientID: "head").close()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: folder.log))
        let header = bytes
        bytes[5] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: folder.log))
        #expect(throws: MQTTError.client(.sessionStoreFailed, .unspecifiedError, "")) {
            try SessionStore(options: Self.options(folder), clientID: "head")
        }
        try Data("{\"not\": \"a store\"}".utf8).write(to: URL(fileURLWithPath: folder.log))
        #expect(throws: MQTTError.client(.sessionStoreFailed, .unspecifiedError, "")) {
            try SessionStore(options: Self.options(folder), clientID: "head")
        }
        // Creation cut short inside the header: nothing was ever stored, so the store starts over.
        try header.prefix(6).write(to: URL(fileURLWithPath: folder.log))
        let restarted = try SessionStore(options: Self.options(folder), clientID: "head")
        #expect(restarted.session.isEmpty)
        restarted.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.log)) == header)
    }

    @Test func theLogAndItsFolderAreForTheOwnerOnly() throws {
        let folder = Folder()
        try SessionStore(options: Self.options(folder), clientID: "modes").close()
        let folderMode = try FileManager.default.attributesOfItem(atPath: folder.path)[.posixPermissions] as? Int
        let logMode = try FileManager.default.attributesOfItem(atPath: folder.log)[.posixPermissions] as? Int
        #expect(folderMode == 0o700)
        #expect(logMode == 0o600)
    }

    @Test func aClientWithAStoreNeedsAFixedIDAndAPersistentSession() throws {
        let folder = Folder()
        for (id, clean) in [("", false), ("fixed", true)] {
            var configuration = MQTTClientConfiguration(host: "127.0.0.1", clientID: id, cleanStart: clean)
            configuration.sessionStore = Self.options(folder)
            #expect(throws: MQTTError(.invalidArgument, reasonCode: .implementationSpecificError, "")) {
                try MQTTClient(configuration: configuration)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }

    // MARK: - Compaction

    @Test func compactionKeepsOnlyTheLiveRecords() throws {
        let folder = Folder()
        let store = try SessionStore(options: Self.options(folder, threshold: 64 << 10), clientID: "compact")
        let payload = String(repeating: "x", count: 1000)
        for round in 0..<400 {
            let keys = try store.accept([Self.publish("\(round)-\(payload)")])
            store.append(.assigned(key: keys[0], packetIdentifier: UInt16(round % 60_000 + 1)))
            if round % 100 != 0 { store.append(.finished(key: keys[0])) }
            try store.commit()
        }
        #expect(store.compactions > 0)
        let size = try FileManager.default.attributesOfItem(atPath: folder.log)[.size] as? Int ?? 0
        #expect(size < 400 * 1000 / 2)
        let live = store.session.outgoing.map(\.key)
        #expect(live == [1, 101, 201, 301])
        store.close()
        let reopened = try SessionStore(options: Self.options(folder), clientID: "compact")
        #expect(reopened.session.outgoing.map(\.key) == live)
        #expect(try reopened.accept([Self.publish("next")]) == [401])
        #expect(!FileManager.default.fileExists(atPath: folder.log + ".new"))
    }

    // MARK: - The state machine's records

    @Test func everyStepOfAnOutgoingFlowIsRecordedBeforeItsPacket() {
        var driver = MachineDriver {
            $0.sessionStore = MQTTSessionStoreOptions(directory: "/nonexistent")
            $0.cleanStart = false
        }
        _ = driver.connect()
        #expect(driver.publish(1, qos: .atLeastOnce, storeKey: 11) == ["store assigned 11 id=1", "PUBLISH m1 id=1"])
        #expect(driver.publish(2, qos: .exactlyOnce, storeKey: 12) == ["store assigned 12 id=2", "PUBLISH m2 id=2"])
        #expect(
            driver.receive(.puback(MQTTPubAck(packetIdentifier: 1))) == ["store finished 11", "publish 1 done 0x00"])
        #expect(driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 2))) == ["store released 12", "PUBREL 2"])
        #expect(
            driver.receive(.pubcomp(MQTTPubAck(packetIdentifier: 2))) == ["store finished 12", "publish 2 done 0x00"])
        // A refusal by the broker ends the flow in the store too.
        _ = driver.publish(3, qos: .atLeastOnce, storeKey: 13)
        #expect(
            driver.receive(.puback(MQTTPubAck(packetIdentifier: 3, reasonCode: .notAuthorized)))
                == ["store finished 13", "publish 3 failed publishFailed"])
    }

    @Test func incomingQoS2StateIsRecordedBeforePubrecAndPubcomp() {
        var driver = MachineDriver {
            $0.sessionStore = MQTTSessionStoreOptions(directory: "/nonexistent")
            $0.cleanStart = false
        }
        _ = driver.connect()
        _ = driver.subscribe(1, to: ["in/#"], qos: .exactlyOnce)
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS2])))
        #expect(
            driver.incoming("x", topic: "in/a", qos: .exactlyOnce, id: 9)
                == ["store incoming 9", "deliver x to 1", "PUBREC 9"])
        #expect(driver.incoming("x", topic: "in/a", qos: .exactlyOnce, id: 9, dup: true) == ["PUBREC 9"])
        #expect(driver.receive(.pubrel(MQTTPubAck(packetIdentifier: 9))) == ["store incoming released 9", "PUBCOMP 9"])
    }

    @Test func withoutAStoreNothingIsRecorded() {
        var driver = MachineDriver()
        _ = driver.connect()
        #expect(driver.publish(1, qos: .exactlyOnce) == ["PUBLISH m1 id=1"])
        #expect(driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 1))) == ["PUBREL 1"])
    }

    @Test func aRestoredSessionResendsItsFlowsFirstAndKeepsItsQoS2ReceiveState() {
        var driver = MachineDriver {
            $0.sessionStore = MQTTSessionStoreOptions(directory: "/nonexistent")
            $0.cleanStart = false
        }
        let session = Self.session([
            .accepted(
                key: 5, StoredPublish(MQTTPublish(topic: "t", payload: ByteBuffer(string: "sent"), qos: .atLeastOnce))),
            .assigned(key: 5, packetIdentifier: 30),
            .accepted(
                key: 6, StoredPublish(MQTTPublish(topic: "t", payload: ByteBuffer(string: "rec"), qos: .exactlyOnce))),
            .assigned(key: 6, packetIdentifier: 31),
            .released(key: 6),
            .accepted(
                key: 7,
                StoredPublish(MQTTPublish(topic: "t", payload: ByteBuffer(string: "waiting"), qos: .atLeastOnce))),
            .incomingReceived(packetIdentifier: 77),
        ])
        driver.machine.restore(session)
        #expect(driver.open() == ["CONNECT clean=false"])
        #expect(
            driver.receive(.connack(MQTTConnAck(sessionPresent: true)))
                == [
                    "established keepAlive=60s", "PUBLISH sent id=30 dup", "PUBREL 31", "store assigned 7 id=32",
                    "PUBLISH waiting id=32", "connected",
                ])
        // The QoS 2 flow 77 was delivered before the restart: its resend is acknowledged, not delivered again.
        // Packet identifiers go on after the restored ones.
        #expect(driver.subscribe(1, to: ["t"], qos: .exactlyOnce) == ["SUBSCRIBE 33 t", "timer 33"])
        #expect(
            driver.receive(.suback(MQTTSubAck(packetIdentifier: 33, reasonCodes: [.grantedQoS2])))
                == ["cancel timer 33", "open stream 1 t", "subscribed 1 stream=1"])
        #expect(driver.incoming("again", topic: "t", qos: .exactlyOnce, id: 77, dup: true) == ["PUBREC 77"])
        // A recovered message has no caller: its acknowledgement completes nothing but the store's record.
        #expect(driver.receive(.puback(MQTTPubAck(packetIdentifier: 30))) == ["store finished 5"])
    }
}

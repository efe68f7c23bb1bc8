import LocalBroker
import MQTT
import NIOCore
import Seal
import SealFleet
import SealKeyring
import SealedMQTT
import Synchronization
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A flag one task sets and another reads.
final class StopFlag: Sendable {
    private let flag = Atomic(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// Fleet key distribution over a real mosquitto (Specs/fleet.md): scale, revocation, offline devices, hostile
/// slots. Every count is asserted; no timing.
@Suite(.serialized) struct FleetBrokerTests {
    /// Signed topics: every reader requires a signature from a writer whose grant covers the topic.
    static func signedPolicy() throws -> SealedPolicy {
        var policy = SealedPolicy.standard
        try policy.set(SealedTopicPolicy(requiresSignature: true, signing: .always), for: "plant/#")
        return policy
    }

    /// A device with a sealed client on its own connection, reloading its keyring as its agent applies slots.
    struct SealedDevice {
        let keyring: FleetDeviceKeyring
        let sealed: SealedMQTTClient
        let agent: FleetDeviceAgent
    }

    static func sealedDevice(
        _ world: FleetWorld, _ keyring: FleetDeviceKeyring, id: String
    ) async throws -> SealedDevice {
        let watcher = try KeyringWatcher(
            file: keyring.file, credential: keyring.credential, pollInterval: .seconds(3600))
        let sealed = try await world.broker.sealedClient(id, keys: watcher, policy: signedPolicy())
        return SealedDevice(
            keyring: keyring, sealed: sealed, agent: try sealed.fleetAgent(device: keyring, topics: world.topics))
    }

    /// Publishes `plant/1/telemetry` messages 0, 1, 2, ... until `stop` is set, then `tail` more, then `end`;
    /// returns the count before `end`.
    static func stream(_ writer: SealedMQTTClient, stop: StopFlag, tail: Int) async throws -> Int {
        var sent = 0
        var after = 0
        while after < tail {
            if stop.isSet { after += 1 }
            _ = try await writer.publish(to: "plant/1/telemetry", payload: Array("\(sent)".utf8), qos: .atLeastOnce)
            sent += 1
            if sent % 50 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        _ = try await writer.publish(to: "plant/1/telemetry", payload: Array("end".utf8), qos: .atLeastOnce)
        return sent
    }

    /// Reads a stream until `end` (bounded by `seconds`), as a live subscriber does: reading all along matters,
    /// since a subscription left unread pauses its whole connection, the slot subscription on it included.
    static func readUntilEnd(_ stream: SealedMessageStream, seconds: Double = 120) async throws -> [SealedMessage] {
        try await withTimeout(seconds, "stream end") {
            var messages: [SealedMessage] = []
            for try await message in stream {
                if message.payload == Array("end".utf8) { break }
                messages.append(message)
            }
            return messages
        }
    }

    @Test func fiveHundredDevicesRotateToFullCoverageWhileAStreamFlows() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let world = try await FleetWorld(broker: broker)
        // A writes plant/1/telemetry; B and C read plant/1/#; 497 others read plant/<n>/# and 10 of them write.
        let (a, requestA) = try world.makeDevice("writer-a")
        let (b, requestB) = try world.makeDevice("reader-b")
        let (c, requestC) = try world.makeDevice("reader-c")
        try world.enroll(requestA, write: ["plant/1/telemetry"])
        try world.enroll(requestB, read: ["plant/1/#"])
        try world.enroll(requestC, read: ["plant/1/#"])
        var others: [FleetDeviceKeyring] = []
        for index in 0..<497 {
            let (device, request) = try world.makeDevice("d-\(index)")
            let plant = index % 10
            try world.enroll(request, read: ["plant/\(plant)/#"], write: index < 10 ? ["plant/\(plant)/status"] : [])
            others.append(device)
        }
        // The others share 10 connections, as devices behind a gateway would.
        var shared: [MQTTClient] = []
        for index in 0..<10 {
            let client = try MQTTClient(configuration: broker.mqttConfiguration("gateway-\(index)"))
            try await client.connect()
            shared.append(client)
        }
        let agents = try others.enumerated().map { index, device in
            try FleetDeviceAgent(client: shared[index % shared.count], device: device, topics: world.topics)
        }
        let deviceA = try await Self.sealedDevice(world, a, id: "writer-a")
        let deviceB = try await Self.sealedDevice(world, b, id: "reader-b")
        let deviceC = try await Self.sealedDevice(world, c, id: "reader-c")
        let everyAgent = agents + [deviceA.agent, deviceB.agent, deviceC.agent]

        try await withAgents(everyAgent) {
            #expect(try await world.publishChanges() == 500)
            try await world.waitForCoverage()
            #expect(world.coverage == (500, 500))

            let streamB = try await deviceB.sealed.subscribe(to: "plant/1/#", qos: .atLeastOnce)
            let streamC = try await deviceC.sealed.subscribe(to: "plant/1/#", qos: .atLeastOnce)
            async let receivedB = Self.readUntilEnd(streamB)
            async let receivedC = Self.readUntilEnd(streamC)
            let stop = StopFlag()
            async let sentCount = Self.stream(deviceA.sealed, stop: stop, tail: 200)
            // Rotate every group while the stream flows: stage, 100% acks, promote, 100% acks.
            let staged = try world.change { try $0.stageRotation() }
            #expect(staged.count == 21)
            try await world.publishChanges()
            try await world.waitForCoverage()
            try world.change { try $0.promote(staged, grace: .seconds(3600)) }
            try await world.publishChanges()
            try await world.waitForCoverage()
            #expect(world.coverage == (500, 500))
            stop.set()
            let sent = try await sentCount
            let gotB = try await receivedB
            let gotC = try await receivedC
            #expect(gotB.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<sent).map(String.init))
            #expect(gotC.count == sent)
            // The stream crossed the rotation: both the old and the new key sealed some of it.
            #expect(Set(gotB.compactMap(\.keyID)).count == 2)
            let statisticsB = await deviceB.sealed.statistics
            let statisticsC = await deviceC.sealed.statistics
            #expect(statisticsB.rejected == 0 && statisticsC.rejected == 0)
            #expect(statisticsB.duplicates == 0 && statisticsC.duplicates == 0)
        }
        let applied = everyAgent.map(\.statistics.applied).reduce(0, +)
        #expect(applied >= 1_500)
        #expect(everyAgent.allSatisfy { $0.statistics.rejected.isEmpty })
        for device in [deviceA, deviceB, deviceC] { await device.sealed.disconnect() }
        for client in shared { await client.disconnect() }
        await world.close()
    }

    /// Acks that arrive while slots go out must not stall the authority's connection: with a report buffer of 4,
    /// the client pauses reading once 4 acks wait, and the PUBACKs of the remaining slots would sit unread behind
    /// them (10,000 devices hung `fleet bench` this way). Publishing drains the reports meanwhile.
    @Test func acksArrivingWhileSlotsGoOutDoNotStallThePublish() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let world = try await FleetWorld(broker: broker, reportBuffer: 4)
        var devices: [FleetDeviceKeyring] = []
        for index in 0..<40 {
            let (device, request) = try world.makeDevice("d-\(index)")
            try world.enroll(request, read: ["plant/\(index % 4)/#"])
            devices.append(device)
        }
        let gateway = try MQTTClient(configuration: broker.mqttConfiguration("gateway"))
        try await gateway.connect()
        let agents = try devices.map { try FleetDeviceAgent(client: gateway, device: $0, topics: world.topics) }
        try await withAgents(agents) {
            // One slot in flight at a time: every device's ack arrives before the next PUBACK is read.
            let published = try await withTimeout(60, "publishing 40 slots one at a time") {
                try await world.publishChanges(window: 1)
            }
            #expect(published == 40)
            try await world.waitForCoverage()
            #expect(world.coverage == (40, 40))
        }
        #expect(agents.map(\.statistics.applied).reduce(0, +) == 40)
        await gateway.disconnect()
        await world.close()
    }

    @Test func revokedReaderOpensNothingNewAndItsSignaturesAreRejected() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let world = try await FleetWorld(broker: broker)
        let (w, requestW) = try world.makeDevice("writer")
        let (r1, request1) = try world.makeDevice("reader-1")
        let (r2, request2) = try world.makeDevice("reader-2")
        let (x, requestX) = try world.makeDevice("lost-device")
        try world.enroll(requestW, write: ["plant/1/telemetry"])
        try world.enroll(request1, read: ["plant/1/#"])
        try world.enroll(request2, read: ["plant/1/#"])
        try world.enroll(requestX, read: ["plant/1/#"], write: ["plant/1/status"])
        let writer = try await Self.sealedDevice(world, w, id: "writer")
        let reader1 = try await Self.sealedDevice(world, r1, id: "reader-1")
        let reader2 = try await Self.sealedDevice(world, r2, id: "reader-2")
        let lost = try await Self.sealedDevice(world, x, id: "lost-device")
        let agents = [writer.agent, reader1.agent, reader2.agent, lost.agent]
        try await withAgents(agents) {
            try await world.publishChanges()
            try await world.waitForCoverage()
            let stream1 = try await reader1.sealed.subscribe(to: "plant/1/telemetry", qos: .atLeastOnce)
            let stream2 = try await reader2.sealed.subscribe(to: "plant/1/telemetry", qos: .atLeastOnce)
            async let received1 = Self.readUntilEnd(stream1)
            async let received2 = Self.readUntilEnd(stream2)
            let raw = try await broker.rawClient("eavesdropper")
            let captured = try await raw.subscribe(to: "plant/1/telemetry", qos: .atLeastOnce)
            let stop = StopFlag()
            async let sentCount = Self.stream(writer.sealed, stop: stop, tail: 100)

            let staged = try world.change { try $0.revoke("lost-device") }
            // Every group it could read: plant/1/#, plant/1/telemetry and plant/1/status.
            #expect(staged.count == 3)
            try await world.publishChanges()
            try await world.waitForCoverage()
            // A grace keeps the messages sealed just before the revoke (still in flight) open at the readers.
            try world.change { try $0.promote(staged, grace: .seconds(60)) }
            try await world.publishChanges()
            try await world.waitForCoverage()
            stop.set()
            let sent = try await sentCount
            // The readers lose nothing.
            #expect(try await received1.count == sent)
            #expect(try await received2.count == sent)
            // The last 100 were sealed after the revoke: nothing the lost device holds opens them.
            let envelopes = try await collectRaw(captured, count: sent + 1, seconds: 60).dropLast()
            let lostKeys = try x.load()
            #expect(lostKeys.device?.sequence ?? 0 > 0)
            let opener = Opener(keys: KeyringSnapshot(lostKeys), replayGuard: nil)
            for message in envelopes.suffix(100) {
                #expect(throws: SealError.self) {
                    try opener.open(Array(buffer: message.payload), topic: message.topic)
                }
            }
            // Its signed messages on its former write grant are rejected by every reader.
            let rejections1 = await reader1.sealed.rejections()
            let status = try await reader1.sealed.subscribe(to: "plant/1/status", qos: .atLeastOnce)
            let forged = try KeyringSnapshot(lostKeys).sealer(for: "plant/1/status", sign: true)
                .seal(Array("forged".utf8), topic: "plant/1/status")
            try await raw.publish(to: "plant/1/status", payload: ByteBuffer(bytes: forged), qos: .atLeastOnce)
            let rejected = try await nextRejections(rejections1, count: 1, reading: [status])
            #expect(rejected.first?.topic == "plant/1/status")
            await raw.disconnect()
        }
        #expect(lost.agent.statistics.cleared == 1)
        for device in [writer, reader1, reader2, lost] { await device.sealed.disconnect() }
        await world.close()
    }

    @Test func aDeviceOfflineAcrossTwoRotationsCatchesUpFromItsRetainedSlot() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let world = try await FleetWorld(broker: broker)
        let (w, requestW) = try world.makeDevice("writer")
        let (d, requestD) = try world.makeDevice("sleeper")
        try world.enroll(requestW, write: ["plant/1/telemetry"])
        try world.enroll(requestD, read: ["plant/1/#"])
        let writer = try await Self.sealedDevice(world, w, id: "writer")
        try await withAgents([writer.agent]) {
            try await world.publishChanges()
            try await world.waitForCoverage(minimum: 1)
            for _ in 0..<2 {
                let staged = try world.change { try $0.stageRotation() }
                try await world.publishChanges()
                try await world.waitForCoverage(minimum: 1)
                try world.change { try $0.promote(staged, grace: .seconds(3600)) }
                try await world.publishChanges()
                try await world.waitForCoverage(minimum: 1)
            }
        }
        #expect(try d.load().device?.sequence == 0)
        let published = try #require(world.state.withLock { $0.registry.member("sleeper")?.published })
        // It wakes up: the retained slot is the latest, it applies it and acks.
        let sleeper = try await Self.sealedDevice(world, d, id: "sleeper")
        try await withAgents([sleeper.agent, writer.agent]) {
            try await world.waitForCoverage()
            #expect(try d.load().device?.sequence == published)
            let stream = try await sleeper.sealed.subscribe(to: "plant/1/#", qos: .atLeastOnce)
            _ = try await writer.sealed.publish(
                to: "plant/1/telemetry", payload: Array("hello".utf8), qos: .atLeastOnce)
            let got = try await collect(stream, count: 1)
            #expect(got.first?.payload == Array("hello".utf8))
        }
        #expect(sleeper.agent.statistics.applied == 1)
        for device in [writer, sleeper] { await device.sealed.disconnect() }
        await world.close()
    }

    @Test func hostileSlotsOnTheBrokerAreRejectedAndTheKeysStayUnchanged() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let world = try await FleetWorld(broker: broker)
        let (d, requestD) = try world.makeDevice("target")
        let (_, requestO) = try world.makeDevice("other")
        try world.enroll(requestD, read: ["plant/1/#"])
        try world.enroll(requestO, read: ["plant/2/#"])
        let client = try await broker.rawClient("target-connection")
        let agent = try FleetDeviceAgent(client: client, device: d, topics: world.topics)
        let attacker = try await broker.rawClient("attacker")
        try await withAgents([agent]) {
            try await world.publishChanges()
            try await world.waitForCoverage(minimum: 1)
            // A genuine slot that is superseded before the attacker replays it.
            let old = try #require(try world.change { try $0.republish("target") })
            let newer = try #require(try world.change { try $0.republish("target") })
            _ = try await world.link.publish([newer])
            try await eventually(10, "newer slot applied") { agent.statistics.sequence == newer.sequence }
            let before = try Array(Data(contentsOf: URL(fileURLWithPath: d.file.path)))
            var rogueKeyring = Keyring()
            try rogueKeyring.newSigningIdentity(name: FleetAuthority.identityName)
            var rogue = try FleetAuthority(keyring: rogueKeyring, registry: world.state.withLock { $0.registry })
            let forged = try #require(try rogue.publications(all: true).first { $0.device == "target" })
            let forOther = try #require(try world.change { try $0.republish("other") })
            let replay = try #require(try world.change { try $0.republish("target") })
            var flipped = replay.payload
            flipped[flipped.count / 2] ^= 0x01
            let hostile: [([UInt8], FleetError.SlotRejection)] = [
                (old.payload, .staleSequence), (forOther.payload, .wrongDevice), (forged.payload, .unknownAuthority),
                (flipped, .badSignature), (Array(replay.payload.prefix(100)), .malformed),
            ]
            // Each is published retained to the device's slot topic by an attacker: each is refused with its reason
            // and the device keeps its keys.
            for (index, (payload, reason)) in hostile.enumerated() {
                try await attacker.publish(
                    to: world.topics.slot("target"), payload: ByteBuffer(bytes: payload), qos: .atLeastOnce,
                    retain: true)
                try await eventually(10, "rejection \(reason)") { agent.statistics.rejected[reason] == 1 }
                #expect(agent.statistics.rejected.values.reduce(0, +) == index + 1)
            }
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: d.file.path))) == before)
        }
        await attacker.disconnect()
        await client.disconnect()
        await world.close()
    }

    @Test func fleetServeAnswersARequestAndRecordsTheAck() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let world = try await FleetWorld(broker: broker)
        let (d, request) = try world.makeDevice("newcomer")
        try world.enroll(request, read: ["plant/1/#"])
        // The slot was built and recorded but never reached the broker (a lost publish): serve sees nothing to
        // change, the device finds no slot and asks.
        try world.change { authority in
            _ = try authority.publications()
            try world.store.save(authority)
        }
        let serveClient = try await broker.rawClient("fleet-serve")
        let service = FleetAuthorityService(
            store: world.store, client: serveClient, topics: world.topics, flushInterval: .milliseconds(100))
        let deviceClient = try await broker.rawClient("newcomer-connection")
        let agent = try FleetDeviceAgent(
            client: deviceClient, device: d, topics: world.topics, requestAfter: .milliseconds(200))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            try await withAgents([agent]) {
                try await eventually(20, "slot applied after a request") { agent.statistics.applied == 1 }
                try await eventually(20, "ack recorded by fleet serve") {
                    (try? world.store.load().registry.member("newcomer")?.isCurrent) == true
                }
            }
            group.cancelAll()
        }
        #expect(agent.statistics.requests == 1)
        #expect(service.statistics.answered == 1)
        #expect(service.statistics.acks >= 1)
        #expect(service.statistics.refused == 0)
        await deviceClient.disconnect()
        await serveClient.disconnect()
        await world.close()
    }

    @Test func onSignedTopicsAWriterCannotForgeOutsideItsWriteGrant() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let world = try await FleetWorld(broker: broker)
        // writer-7 may write plant/7/telemetry; it also reads plant/8/# (so it holds that key) but may not write it.
        let (w, requestW) = try world.makeDevice("writer-7")
        let (r, requestR) = try world.makeDevice("reader-8")
        let (n, requestN) = try world.makeDevice("reader-7")
        try world.enroll(requestW, read: ["plant/8/#"], write: ["plant/7/telemetry"])
        try world.enroll(requestR, read: ["plant/8/#"])
        try world.enroll(requestN, read: ["plant/7/#"])
        let writer = try await Self.sealedDevice(world, w, id: "writer-7")
        let reader8 = try await Self.sealedDevice(world, r, id: "reader-8")
        let reader7 = try await Self.sealedDevice(world, n, id: "reader-7")
        try await withAgents([writer.agent, reader8.agent, reader7.agent]) {
            try await world.publishChanges()
            try await world.waitForCoverage()
            let stream8 = try await reader8.sealed.subscribe(to: "plant/8/#", qos: .atLeastOnce)
            let stream7 = try await reader7.sealed.subscribe(to: "plant/7/#", qos: .atLeastOnce)
            let rejections8 = await reader8.sealed.rejections()
            _ = try await writer.sealed.publish(
                to: "plant/8/telemetry", payload: Array("forged".utf8), qos: .atLeastOnce)
            _ = try await writer.sealed.publish(
                to: "plant/7/telemetry", payload: Array("genuine".utf8), qos: .atLeastOnce)
            let rejected = try await nextRejections(rejections8, count: 1, reading: [stream8])
            #expect(rejected.first?.topic == "plant/8/telemetry")
            let genuine = try await collect(stream7, count: 1)
            #expect(genuine.first?.payload == Array("genuine".utf8))
            // reader-7 holds no key that opens plant/8.
            #expect(!(try n.load().keys.contains { $0.scope.matches("plant/8/telemetry") }))
        }
        let statistics8 = await reader8.sealed.statistics
        #expect(statistics8.delivered == 0 && statistics8.rejected == 1)
        for device in [writer, reader8, reader7] { await device.sealed.disconnect() }
        await world.close()
    }
}

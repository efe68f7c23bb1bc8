import Foundation
import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// The on-disk session store against a real mosquitto: a publisher that stops dead (the socket closed without
/// DISCONNECT, as a crash leaves it) is replaced by a new client with the same id and store, which sends everything
/// the first one accepted; a full disk refuses a message with a typed error instead of dropping it. Every check is a
/// count.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BrokerSessionStoreTests {
    static func folder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-store-\(UUID().uuidString)").path
    }

    static func storedConfiguration(
        _ broker: LocalBroker, _ version: MQTTProtocolVersion, clientID: String, folder: String,
        durability: MQTTSessionStoreOptions.Durability = .synchronized
    ) -> MQTTClientConfiguration {
        var configuration = broker.clientConfiguration(version, clientID: clientID)
        configuration.cleanStart = false
        configuration.sessionExpiryInterval = .seconds(3600)
        configuration.sessionStore = MQTTSessionStoreOptions(directory: folder, durability: durability)
        return configuration
    }

    /// Counts the numbered messages of `stream` until `expected` distinct ones arrived (bounded).
    static func count(_ stream: MQTTMessageStream, expected: Int, seconds: Double = 60) async -> (Set<UInt32>, Int) {
        let result = try? await withTimeout(seconds, "\(expected) distinct messages") {
            var distinct = Set<UInt32>()
            var total = 0
            for try await message in stream {
                guard let value = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self)
                else { continue }
                total += 1
                distinct.insert(value)
                if distinct.count == expected { break }
            }
            return (distinct, total)
        }
        return result ?? ([], 0)
    }

    @Test(arguments: [
        (MQTTProtocolVersion.v5, MQTTQoS.atLeastOnce), (.v311, .atLeastOnce), (.v5, .exactlyOnce),
        (.v311, .exactlyOnce),
    ])
    func aClientThatStoppedDeadIsResumedFromItsStore(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 0))
        defer { broker.stopNow() }
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let subscriber = try await broker.connectedClient(version)
        let stream = try await subscriber.subscribe(to: "stored/#", qos: qos)

        let total = 2_000
        let clientID = "stored-\(version == .v5 ? 5 : 311)-\(qos.rawValue)"
        let first = try MQTTClient(
            configuration: Self.storedConfiguration(broker, version, clientID: clientID, folder: folder))
        try await first.connect()
        for index in 0..<total {
            var payload = ByteBuffer()
            payload.writeInteger(UInt32(index))
            try await first.enqueue(to: "stored/\(index % 5)", payload: payload, qos: qos)
        }
        // Stop dead: no DISCONNECT, nothing more sent or acknowledged.
        await first.abort()

        // The store holds what the broker had not acknowledged (else this test proves nothing).
        let left = try SessionStore(
            options: MQTTSessionStoreOptions(directory: folder), clientID: clientID)
        let unacknowledged = left.session.outgoingByKey.count
        left.close()
        #expect(unacknowledged > 0)

        let second = try MQTTClient(
            configuration: Self.storedConfiguration(broker, version, clientID: clientID, folder: folder))
        try await second.connect()
        try await withTimeout(60, "acknowledgements") { try await second.waitUntilAcknowledged() }
        let (distinct, received) = await Self.count(stream, expected: total)
        #expect(distinct.count == total, "lost \(total - distinct.count) of \(total) (\(unacknowledged) were left)")
        if qos == .exactlyOnce {
            // The resent QoS 2 flows kept their packet ids, so the broker recognised them: exactly once.
            #expect(received == total, "\(received - total) duplicates")
        }
        await second.disconnect()
        await subscriber.disconnect()
        // Everything acknowledged: the store is empty.
        let after = try SessionStore(options: MQTTSessionStoreOptions(directory: folder), clientID: clientID)
        #expect(after.session.isEmpty)
        after.close()
    }

    /// A store on a 64 KiB file system: once it is full, `enqueue` and `publish` fail with `sessionStoreFailed`;
    /// every message accepted before arrives, none after.
    @Test func aFullDiskRefusesAMessageWithATypedError() async throws {
        let mountPoint = Self.folder()
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mountPoint]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "this test needs root to mount a 64 KiB tmpfs")
        defer {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
            unmount.arguments = [mountPoint]
            try? unmount.run()
            unmount.waitUntilExit()
        }

        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient()
        let stream = try await subscriber.subscribe(to: "full/#", qos: .atLeastOnce)
        let publisher = try MQTTClient(
            configuration: Self.storedConfiguration(broker, .v5, clientID: "full-disk", folder: mountPoint + "/store"))
        try await publisher.connect()
        var accepted = 0
        var refusal: MQTTError?
        for index in 0..<200 {
            var payload = ByteBuffer()
            payload.writeInteger(UInt32(index))
            payload.writeRepeatingByte(0x66, count: 2048)
            do {
                if index % 2 == 0 {
                    try await publisher.enqueue(to: "full/t", payload: payload, qos: .atLeastOnce)
                } else {
                    try await publisher.publish(to: "full/t", payload: payload, qos: .atLeastOnce)
                }
                accepted += 1
            } catch let error as MQTTError {
                refusal = error
                break
            }
        }
        #expect(refusal?.code == .sessionStoreFailed)
        #expect(accepted > 0 && accepted < 200)
        try await withTimeout(30, "acknowledgements") { try await publisher.waitUntilAcknowledged() }
        let (distinct, _) = await Self.count(stream, expected: accepted, seconds: 30)
        #expect(distinct == Set((0..<accepted).map(UInt32.init)))
        // Nothing from the refusal on went out.
        let late = await collectFor(stream, seconds: 0.5)
        #expect(
            late.allSatisfy {
                ($0.payload.getInteger(at: $0.payload.readerIndex, as: UInt32.self) ?? .max) < UInt32(accepted)
            })
        await publisher.disconnect()
        await subscriber.disconnect()
    }
}

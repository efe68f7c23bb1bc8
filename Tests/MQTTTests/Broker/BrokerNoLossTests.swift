import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// Regressions for messages lost, piled up or capped with no error, against a real mosquitto on loopback.
/// Every check is a count (received, buffered, lost), never a timing.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BrokerNoLossTests {
    func numbered(_ index: Int, size: Int = 4) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(index))
        if size > 4 { buffer.writeRepeatingByte(0x61, count: size - 4) }
        return buffer
    }

    /// A fresh process resumes a broker session that holds 1,000 queued QoS 1 messages, then subscribes:
    /// the messages the broker sends between CONNACK and SUBACK are kept for the subscription, not
    /// acknowledged and dropped. With a buffer smaller than the backlog the rest waits, unacknowledged, at
    /// the broker.
    @Test(arguments: [(MQTTProtocolVersion.v5, 1024), (.v311, 1024), (.v5, 64), (.v311, 64)])
    func resumedSessionDeliversItsWholeBacklog(version: MQTTProtocolVersion, capacity: Int) async throws {
        let broker = try await LocalBroker.start(.init(maxQueuedMessages: 0))
        defer { broker.stopNow() }
        let clientID = "backlog-\(version == .v5 ? "5" : "311")-\(capacity)"
        func sessionConfiguration() -> MQTTClientConfiguration {
            var configuration = broker.clientConfiguration(version, clientID: clientID)
            configuration.cleanStart = false
            configuration.sessionExpiryInterval = .seconds(3600)
            configuration.subscriptionBufferCapacity = capacity
            return configuration
        }
        // Make the session, with its subscription, and leave.
        let first = try MQTTClient(configuration: sessionConfiguration())
        try await first.connect()
        // Kept until the disconnect: a dropped stream ends its subscription.
        let made = try await first.subscribe(to: "backlog/#", qos: .atLeastOnce)
        await first.disconnect()
        withExtendedLifetime(made) {}

        let total = 1_000
        let publisher = try await broker.connectedClient(version)
        for index in 0..<total {
            try await publisher.publish(to: "backlog/\(index % 7)", payload: numbered(index), qos: .atLeastOnce)
        }
        await publisher.disconnect()

        // A new process: connects (the backlog starts to flow at once), then subscribes.
        let resumed = try MQTTClient(configuration: sessionConfiguration())
        let connack = try await resumed.connect()
        #expect(connack.sessionPresent)
        // Let the backlog arrive before the subscription exists: that is the case that lost messages.
        try await Task.sleep(for: .milliseconds(500))
        let stream = try await resumed.subscribe(to: "backlog/#", qos: .atLeastOnce)
        let seen = MessageBox()
        _ = try? await withTimeout(30, "backlog") {
            var distinct = Set<UInt32>()
            for try await message in stream {
                if let value = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) {
                    distinct.insert(value)
                    if distinct.count > (await seen.messages.count) { await seen.append(message) }
                }
                if distinct.count == total { break }
            }
            return 0
        }
        let distinct = await seen.messages.count
        #expect(distinct == total, "received \(distinct) of \(total)")
        await resumed.disconnect()
    }

    /// A consumer stops reading, the broker restarts, and 30,000 QoS 0 messages flow on the new connection:
    /// the paused subscription stays paused across the reconnect, so the client buffers about its capacity
    /// (plus one socket read), not the whole stream.
    @Test func backPressureHoldsAcrossAReconnect() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let capacity = 64
        var configuration = broker.clientConfiguration(.v5, clientID: "slow-consumer")
        configuration.subscriptionBufferCapacity = capacity
        configuration.reconnect = MQTTReconnectPolicy(
            initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200), maximumAttempts: 200)
        let subscriber = try MQTTClient(configuration: configuration)
        try await subscriber.connect()
        let stream = try await subscriber.subscribe(to: "flood", qos: .atMostOnce)
        var publisherConfiguration = broker.clientConfiguration(.v5, clientID: "flooder")
        publisherConfiguration.reconnect = configuration.reconnect

        // Fill the stream until it pauses reading.
        let publisher = try MQTTClient(configuration: publisherConfiguration)
        try await publisher.connect()
        for index in 0..<(capacity * 4) {
            try await publisher.publish(to: "flood", payload: numbered(index, size: 100))
        }
        try await eventually(10, "stream full") { stream.box.bufferedCount >= capacity }

        try await broker.restart()
        try await eventually(20, "both reconnected") {
            let subscribed = await subscriber.isConnected
            let publishing = await publisher.isConnected
            return subscribed && publishing
        }
        // The subscriber resubscribed on the new connection (the broker has no persistence); wait for the
        // subscription to be in place, then flood.
        try await Task.sleep(for: .milliseconds(500))
        for index in 0..<30_000 { try await publisher.publish(to: "flood", payload: numbered(index, size: 100)) }
        // Give the flood time to reach the client (a deadline, not an assertion).
        try await Task.sleep(for: .seconds(2))
        let buffered = stream.box.bufferedCount
        // Capacity plus what one socket read can hold (64 KiB of ~110-byte packets) plus the CONNACK read.
        #expect(buffered <= capacity + 2_000, "buffered \(buffered) messages against a capacity of \(capacity)")
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// Reading is paused for longer than 1.5x keepalive: the client still sends PINGREQ, so the broker keeps
    /// the connection and the message published after the stall arrives.
    @Test func keepAliveRunsWhileReadingIsPaused() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient(.v5, clientID: "stalled") { configuration in
            configuration.keepAlive = .seconds(1)
            configuration.subscriptionBufferCapacity = 8
        }
        let stream = try await subscriber.subscribe(to: "stall", qos: .atLeastOnce)
        let publisher = try await broker.connectedClient(.v5)
        for index in 0..<100 { try await publisher.publish(to: "stall", payload: numbered(index, size: 1024)) }
        try await eventually(10, "stream full") { stream.box.bufferedCount >= 8 }
        // Stall for 9 keepalive intervals: mosquitto 2.0.11 drops a client silent for 1.5 of them, checking
        // every few seconds (a silent client with keepalive 1 is dropped after about 5 s).
        try await Task.sleep(for: .seconds(9))
        try await publisher.publish(to: "stall", payload: numbered(1_000_000), qos: .atLeastOnce)
        let received = MessageBox()
        do {
            _ = try await withTimeout(20, "marker") {
                for try await message in stream {
                    await received.append(message)
                    if message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) == 1_000_000 {
                        break
                    }
                }
                return 0
            }
        } catch {
            Issue.record("the stalled subscription ended: \(error)")
        }
        let messages = await received.messages
        let marker = messages.last?.payload.getInteger(at: messages.last!.payload.readerIndex, as: UInt32.self)
        #expect(marker == 1_000_000, "received \(messages.count) messages, not the one published after the stall")
        #expect(messages.count == 101)
        #expect(await subscriber.isConnected)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A 20 MiB message goes both ways (the old cap was 16 MiB), in MQTT 5 and 3.1.1.
    @Test(arguments: [MQTTProtocolVersion.v5, .v311])
    func twentyMebibyteMessageBothWays(version: MQTTProtocolVersion) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let subscriber = try await broker.connectedClient(version)
        let stream = try await subscriber.subscribe(to: "large", qos: .atLeastOnce)
        let publisher = try await broker.connectedClient(version)
        var large = ByteBuffer()
        for index in 0..<(20 * 1024 * 1024 / 4) {
            large.writeInteger(UInt32(truncatingIfNeeded: index &* 2_654_435_761))
        }
        try await publisher.publish(to: "large", payload: large, qos: .atLeastOnce)
        let messages = try await collect(stream, count: 1, seconds: 60)
        #expect(messages.first?.payload.readableBytes == 20 * 1024 * 1024)
        #expect(messages.first?.payload == large)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A configured maximum packet size is enforced on publish and announced to the broker (MQTT 5), which
    /// then does not send the subscriber anything larger.
    @Test func configuredMaximumPacketSizeIsEnforcedBothWays() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let limited = try await broker.connectedClient(.v5) { $0.maximumPacketSize = 4096 }
        let stream = try await limited.subscribe(to: "limit", qos: .atLeastOnce)
        let error = await #expect(throws: MQTTError.self) {
            try await limited.publish(to: "limit", payload: ByteBuffer(repeating: 1, count: 8192), qos: .atLeastOnce)
        }
        #expect(error?.code == .packetTooLarge)
        let publisher = try await broker.connectedClient(.v5)
        try await publisher.publish(to: "limit", payload: ByteBuffer(repeating: 2, count: 8192), qos: .atLeastOnce)
        try await publisher.publish(to: "limit", payload: ByteBuffer(repeating: 3, count: 100), qos: .atLeastOnce)
        let messages = try await collect(stream, count: 1, seconds: 10)
        #expect(messages.first?.payload.readableBytes == 100)
        #expect(await limited.isConnected)
        await publisher.disconnect()
        await limited.disconnect()
    }
}

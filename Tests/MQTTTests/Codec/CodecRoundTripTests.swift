import MQTT
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

/// Sample packets of every kind, with every field and property their version allows.
enum CodecSamples {
    static func fullConnectProperties() -> MQTTProperties {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 3600
        properties.receiveMaximum = 100
        properties.maximumPacketSize = 1_048_576
        properties.topicAliasMaximum = 16
        properties.requestResponseInformation = true
        properties.requestProblemInformation = false
        properties.userProperties = [.init(name: "k", value: "v"), .init(name: "k", value: "w")]
        properties.authenticationMethod = "SCRAM-SHA-256"
        properties.authenticationData = [1, 2, 3]
        return properties
    }

    static func fullWillProperties() -> MQTTProperties {
        var properties = MQTTProperties()
        properties.willDelayInterval = 30
        properties.payloadFormatIndicator = .utf8
        properties.messageExpiryInterval = 60
        properties.contentType = "text/plain"
        properties.responseTopic = "reply/here"
        properties.correlationData = [9, 8, 7]
        properties.userProperties = [.init(name: "will", value: "yes")]
        return properties
    }

    static func fullConnAckProperties() -> MQTTProperties {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 120
        properties.receiveMaximum = 20
        properties.maximumQoS = .atMostOnce
        properties.retainAvailable = false
        properties.maximumPacketSize = 65_536
        properties.assignedClientIdentifier = "auto-1234"
        properties.topicAliasMaximum = 5
        properties.reasonString = "welcome"
        properties.userProperties = [.init(name: "broker", value: "test")]
        properties.wildcardSubscriptionAvailable = true
        properties.subscriptionIdentifierAvailable = false
        properties.sharedSubscriptionAvailable = true
        properties.serverKeepAlive = 30
        properties.responseInformation = "resp/"
        properties.serverReference = "other:1883"
        properties.authenticationMethod = "SCRAM-SHA-256"
        properties.authenticationData = [4, 5, 6]
        return properties
    }

    static func fullPublishProperties() -> MQTTProperties {
        var properties = MQTTProperties()
        properties.payloadFormatIndicator = .unspecified
        properties.messageExpiryInterval = 10
        properties.topicAlias = 3
        properties.responseTopic = "r/1"
        properties.correlationData = [0xDE, 0xAD]
        properties.userProperties = [.init(name: "a", value: "1"), .init(name: "b", value: "2")]
        properties.subscriptionIdentifiers = [1, 268_435_455, 128]
        properties.contentType = "application/octet-stream"
        return properties
    }

    static func reason(_ text: String) -> MQTTProperties {
        var properties = MQTTProperties()
        properties.reasonString = text
        properties.userProperties = [.init(name: "why", value: text)]
        return properties
    }

    static func packets(_ version: MQTTProtocolVersion) -> [MQTTPacket] {
        let payload = ByteBuffer(bytes: (0..<200).map { UInt8($0 & 0xFF) })
        var packets: [MQTTPacket] = [
            .connect(MQTTConnect(protocolVersion: version, clientIdentifier: "")),
            .connect(
                MQTTConnect(
                    protocolVersion: version, cleanStart: false, keepAlive: 0xFFFF, clientIdentifier: "client-ü",
                    username: "user", password: [0, 1, 2, 0xFF],
                    will: MQTTWill(
                        topic: "last/will", payload: ByteBuffer(string: "gone"), qos: .exactlyOnce, retain: true,
                        properties: version == .v5 ? fullWillProperties() : MQTTProperties()),
                    properties: version == .v5 ? fullConnectProperties() : MQTTProperties())),
            .connect(MQTTConnect(protocolVersion: version, clientIdentifier: "u", username: "only-user")),
            .connack(MQTTConnAck()),
            .connack(MQTTConnAck(sessionPresent: true)),
            .connack(MQTTConnAck(reasonCode: .badUserNameOrPassword)),
            .publish(MQTTPublish(topic: "a", payload: ByteBuffer())),
            .publish(MQTTPublish(topic: "sensors/x/°C", payload: payload, retain: true)),
            .publish(MQTTPublish(topic: "q1", payload: payload, qos: .atLeastOnce, dup: true, packetIdentifier: 1)),
            .publish(MQTTPublish(topic: "q2", payload: payload, qos: .exactlyOnce, packetIdentifier: 0xFFFF)),
            .puback(MQTTPubAck(packetIdentifier: 1)),
            .pubrec(MQTTPubAck(packetIdentifier: 2)),
            .pubrel(MQTTPubAck(packetIdentifier: 3)),
            .pubcomp(MQTTPubAck(packetIdentifier: 0xFFFF)),
            .subscribe(
                MQTTSubscribe(
                    packetIdentifier: 7,
                    subscriptions: [
                        MQTTSubscription(topicFilter: "#"),
                        MQTTSubscription(topicFilter: "a/+/c", options: .init(qos: .exactlyOnce)),
                        MQTTSubscription(topicFilter: "$share/group/x/#", options: .init(qos: .atLeastOnce)),
                    ])),
            .suback(MQTTSubAck(packetIdentifier: 7, reasonCodes: [.grantedQoS0, .grantedQoS2, .unspecifiedError])),
            .unsubscribe(MQTTUnsubscribe(packetIdentifier: 8, topicFilters: ["#", "a/+/c"])),
            .pingreq,
            .pingresp,
            .disconnect(MQTTDisconnect()),
        ]
        switch version {
        case .v311:
            packets += [
                .connack(MQTTConnAck(reasonCode: .serverUnavailable)),
                .unsuback(MQTTUnsubAck(packetIdentifier: 8)),
            ]
        case .v5:
            var aliasOnly = MQTTProperties()
            aliasOnly.topicAlias = 1
            var auth = MQTTProperties()
            auth.authenticationMethod = "SCRAM-SHA-256"
            auth.authenticationData = [1]
            auth.reasonString = "more"
            auth.userProperties = [.init(name: "step", value: "2")]
            var subscribeProperties = MQTTProperties()
            subscribeProperties.subscriptionIdentifiers = [42]
            subscribeProperties.userProperties = [.init(name: "s", value: "t")]
            var userOnly = MQTTProperties()
            userOnly.userProperties = [.init(name: "u", value: "")]
            var disconnectProperties = reason("shutting down")
            disconnectProperties.sessionExpiryInterval = 0
            disconnectProperties.serverReference = "backup"
            packets += [
                .connect(
                    MQTTConnect(
                        protocolVersion: .v5, clientIdentifier: "pw-only", password: [1],
                        properties: fullConnectProperties())),
                .connack(MQTTConnAck(sessionPresent: true, properties: fullConnAckProperties())),
                .connack(MQTTConnAck(reasonCode: .banned, properties: reason("no"))),
                .publish(
                    MQTTPublish(
                        topic: "full", payload: payload, qos: .atLeastOnce, packetIdentifier: 9,
                        properties: fullPublishProperties())),
                .publish(MQTTPublish(topic: "", payload: payload, properties: aliasOnly)),
                .puback(MQTTPubAck(packetIdentifier: 1, reasonCode: .quotaExceeded)),
                .puback(MQTTPubAck(packetIdentifier: 1, reasonCode: .success, properties: reason("ok"))),
                .pubrec(MQTTPubAck(packetIdentifier: 2, reasonCode: .noMatchingSubscribers, properties: reason("x"))),
                .pubrel(MQTTPubAck(packetIdentifier: 3, reasonCode: .packetIdentifierNotFound)),
                .pubcomp(MQTTPubAck(packetIdentifier: 4, reasonCode: .success, properties: reason("done"))),
                .subscribe(
                    MQTTSubscribe(
                        packetIdentifier: 10,
                        subscriptions: [
                            MQTTSubscription(
                                topicFilter: "x/#",
                                options: .init(
                                    qos: .atLeastOnce, noLocal: true, retainAsPublished: true,
                                    retainHandling: .sendOnSubscribeIfNew)),
                            MQTTSubscription(
                                topicFilter: "$share/g/y", options: .init(retainHandling: .doNotSend)),
                        ],
                        properties: subscribeProperties)),
                .suback(
                    MQTTSubAck(
                        packetIdentifier: 10,
                        reasonCodes: [.grantedQoS1, .notAuthorized, .wildcardSubscriptionsNotSupported],
                        properties: reason("partial"))),
                .unsubscribe(
                    MQTTUnsubscribe(packetIdentifier: 11, topicFilters: ["x/#"], properties: userOnly)),
                .unsuback(MQTTUnsubAck(packetIdentifier: 11, reasonCodes: [.success, .noSubscriptionExisted])),
                .unsuback(
                    MQTTUnsubAck(packetIdentifier: 12, reasonCodes: [.topicFilterInvalid], properties: reason("bad"))),
                .disconnect(MQTTDisconnect(reasonCode: .disconnectWithWillMessage)),
                .disconnect(MQTTDisconnect(reasonCode: .serverShuttingDown, properties: disconnectProperties)),
                .auth(MQTTAuth()),
                .auth(MQTTAuth(reasonCode: .continueAuthentication, properties: auth)),
                .auth(MQTTAuth(reasonCode: .reAuthenticate, properties: auth)),
            ]
        }
        return packets
    }
}

@Suite struct CodecRoundTripTests {
    @Test(arguments: MQTTProtocolVersion.allCases)
    func everyPacketRoundTrips(version: MQTTProtocolVersion) throws {
        let packets = CodecSamples.packets(version)
        let kinds = Set(packets.map(\.type))
        let expectedKinds = Set(MQTTPacketType.allCases.filter { version == .v5 || $0 != .auth })
        #expect(kinds == expectedKinds, "samples must cover every packet kind")
        for packet in packets {
            let bytes = try encoded(packet, version)
            #expect(try decodeOne(bytes, version) == packet, "\(packet)")
        }
    }

    /// Feeds every sample whole, byte by byte and in batches through `ByteToMessageHandler`.
    @Test(arguments: MQTTProtocolVersion.allCases)
    func byteToMessageDecoderVerifier(version: MQTTProtocolVersion) throws {
        var pairs: [(ByteBuffer, [MQTTPacket])] = []
        for packet in CodecSamples.packets(version) {
            var out = ByteBuffer()
            try packet.encode(into: &out, version: version)
            pairs.append((out, [packet]))
        }
        // Two packets in one input.
        var two = ByteBuffer()
        try MQTTPacket.pingreq.encode(into: &two, version: version)
        try MQTTPacket.puback(MQTTPubAck(packetIdentifier: 5)).encode(into: &two, version: version)
        pairs.append((two, [.pingreq, .puback(MQTTPubAck(packetIdentifier: 5))]))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            MQTTPacketDecoder(version: version)
        }
    }

    /// The hand-written specification vectors through the verifier as well.
    @Test func specVectorsThroughVerifier() throws {
        for version in MQTTProtocolVersion.allCases {
            let pairs = CodecSpecVectorTests.vectors().filter { $0.1 == version }.map { vector in
                (ByteBuffer(bytes: vector.0), [vector.2])
            }
            try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
                MQTTPacketDecoder(version: version)
            }
        }
    }

    /// Every strict prefix of every packet is incomplete (nil, nothing consumed), and at EOF the
    /// decoder reports it as malformed.
    @Test(arguments: MQTTProtocolVersion.allCases)
    func truncatedAtEveryOffsetWaitsThenFailsAtEOF(version: MQTTProtocolVersion) throws {
        for packet in CodecSamples.packets(version) {
            let bytes = try encoded(packet, version)
            for cut in 0..<bytes.count {
                var input = buffer(Array(bytes[..<cut]))
                var decoder = MQTTPacketDecoder(version: version)
                #expect(try decoder.decode(buffer: &input) == nil)
                #expect(input.readableBytes == cut)
                if cut > 0 {
                    expectMQTTError(.malformedPacket) {
                        _ = try decoder.decodeLast(buffer: &input, seenEOF: true)
                    }
                }
            }
        }
    }

    /// Shortening the Remaining Length of packets whose last field is mandatory makes every cut
    /// malformed: the body is parsed with a length check before every read.
    @Test func bodyCutAtEveryOffsetIsMalformed() throws {
        let packets: [(MQTTPacket, MQTTProtocolVersion)] = [
            (CodecSpecVectorTests.connectV3Packet(), .v311),
            (CodecSpecVectorTests.connectV5Packet(), .v5),
            (CodecSamples.packets(.v5)[1], .v5),
            (.connack(MQTTConnAck(properties: CodecSamples.fullConnAckProperties())), .v5),
            (.connack(MQTTConnAck()), .v311),
            (.puback(MQTTPubAck(packetIdentifier: 1)), .v311),
        ]
        for (packet, version) in packets {
            let bytes = try encoded(packet, version)
            #expect(bytes[1] & 0x80 == 0 || bytes[2] & 0x80 == 0, "test needs a 1 or 2 byte remaining length")
            let lengthSize = bytes[1] & 0x80 == 0 ? 1 : 2
            let body = Array(bytes[(1 + lengthSize)...])
            for cut in 0..<body.count {
                let truncated = [bytes[0]] + variableByteInteger(cut) + Array(body[..<cut])
                expectMQTTError(.malformedPacket) {
                    _ = try decodeOne(truncated, version)
                }
            }
        }
    }

    @Test func encoderHandlerWritesPackets() throws {
        let encoder = MQTTPacketEncoder(version: .v5, maxPacketSize: 100)
        var out = ByteBuffer()
        try encoder.encode(data: .pingreq, out: &out)
        #expect(Array(out.readableBytesView) == [0xC0, 0x00])
        let big = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(repeating: 1, count: 200)))
        #expect(throws: MQTTError.self) {
            try encoder.encode(data: big, out: &out)
        }
    }
}

/// The Variable Byte Integer encoding of `value`, written out per MQTT 5 §1.5.5.
func variableByteInteger(_ value: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    var remaining = value
    repeat {
        var byte = UInt8(remaining % 128)
        remaining /= 128
        if remaining > 0 { byte |= 0x80 }
        bytes.append(byte)
    } while remaining > 0
    return bytes
}

/// The decoder inside a real `ByteToMessageHandler` pipeline surfaces the typed error.
@Suite struct CodecPipelineTests {
    @Test func malformedInputSurfacesTypedErrorInPipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(version: .v5)))
        #expect(try channel.writeInbound(buffer([0xD0, 0x00])).isFull)
        #expect(try channel.readInbound(as: MQTTPacket.self) == .pingresp)
        do {
            try channel.writeInbound(buffer([0xD1, 0x00]))
            Issue.record("reserved flags were accepted")
        } catch let error as MQTTError {
            #expect(error.code == .malformedPacket)
            #expect(error.reasonCode == .malformedPacket)
        }
        _ = try? channel.finish()
    }

    @Test func oversizeInputSurfacesPacketTooLargeInPipeline() throws {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(MQTTPacketDecoder(version: .v311, maxPacketSize: 1024)))
        do {
            try channel.writeInbound(buffer([0x30, 0x80, 0x10]))
            Issue.record("a 2051-byte packet was accepted with a 1024-byte maximum")
        } catch let error as MQTTError {
            #expect(error.code == .packetTooLarge)
            #expect(error.reasonCode == .packetTooLarge)
        }
        _ = try? channel.finish()
    }
}

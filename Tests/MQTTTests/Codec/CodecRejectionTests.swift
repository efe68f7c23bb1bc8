import MQTT
import NIOCore
import Testing

/// Every rejection path of the decoder and the encoder, each with its typed error.
@Suite struct CodecDecodeRejectionTests {
    @Test func reservedPacketTypeZero() {
        expectDecodeError(.malformedPacket, reasonCode: .malformedPacket, [0x00, 0x00], .v5)
        expectDecodeError(.malformedPacket, [0x00], .v311)
    }

    @Test func authIsReservedInV3() {
        expectDecodeError(.malformedPacket, [0xF0, 0x00], .v311)
    }

    /// Wrong fixed-header flags for every packet type but PUBLISH, detected from the first byte alone.
    @Test(arguments: MQTTPacketType.allCases.filter { $0 != .publish })
    func reservedFlags(type: MQTTPacketType) {
        let required: UInt8 = [.pubrel, .subscribe, .unsubscribe].contains(type) ? 0b0010 : 0
        for flags in UInt8(0)...15 where flags != required {
            expectDecodeError(.malformedPacket, [type.rawValue << 4 | flags], .v5)
        }
    }

    @Test func publishQoS3() {
        expectDecodeError(.malformedPacket, [0x36], .v5)
        expectDecodeError(.malformedPacket, [0x37, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], .v311)
    }

    @Test func publishDupOnQoS0() {
        expectDecodeError(.malformedPacket, [0x38, 0x03, 0x00, 0x01, 0x61], .v311)
    }

    @Test func publishPacketIdentifierZero() {
        expectDecodeError(.protocolError, [0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00], .v311)
    }

    @Test func fiveByteRemainingLength() {
        expectDecodeError(.malformedPacket, [0x30, 0x80, 0x80, 0x80, 0x80, 0x01], .v5)
        expectDecodeError(.malformedPacket, [0x30, 0xFF, 0xFF, 0xFF, 0xFF], .v5)
    }

    @Test func nonMinimalRemainingLength() {
        expectDecodeError(.malformedPacket, [0xC0, 0x80, 0x00], .v5)
        expectDecodeError(.malformedPacket, [0x30, 0x85, 0x80, 0x00], .v5)
    }

    /// The size limit is enforced from the fixed header alone: the body is never awaited.
    @Test func oversizePacketRejectedBeforeBody() {
        expectDecodeError(.packetTooLarge, reasonCode: .packetTooLarge, [0x30, 0x64], .v5, maxPacketSize: 50)
        expectDecodeError(.packetTooLarge, [0x30, 0xFF, 0xFF, 0xFF, 0x7F], .v311, maxPacketSize: 1_000_000)
        // Exactly at the limit is accepted: 2 header bytes + 3 body bytes.
        #expect(
            (try? decodeOne([0x30, 0x03, 0x00, 0x01, 0x61], .v311, maxPacketSize: 5)) != nil
        )
        expectDecodeError(.packetTooLarge, [0x30, 0x03, 0x00, 0x01, 0x61], .v311, maxPacketSize: 4)
    }

    @Test func trailingBytes() {
        expectDecodeError(.malformedPacket, [0xC0, 0x01, 0x00], .v5)
        expectDecodeError(.malformedPacket, [0xD0, 0x01, 0x00], .v311)
        expectDecodeError(.malformedPacket, [0x40, 0x03, 0x00, 0x01, 0x00], .v311)
        expectDecodeError(.malformedPacket, [0x20, 0x03, 0x00, 0x00, 0x00], .v311)
        expectDecodeError(.malformedPacket, [0xE0, 0x01, 0x00], .v311)
        expectDecodeError(.malformedPacket, [0xB0, 0x03, 0x00, 0x01, 0x00], .v311)
        // A property section shorter than the rest of the packet.
        expectDecodeError(.malformedPacket, [0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0xFF], .v5)
    }

    @Test(arguments: [
        [0xFF, 0xFE] as [UInt8],  // never valid
        [0xC0, 0xAF],  // overlong "/"
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate U+D800
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xE2, 0x82],  // truncated sequence
        [0x61, 0x00, 0x62],  // U+0000
    ])
    func invalidUTF8Topic(topic: [UInt8]) {
        let body = [0x00, UInt8(topic.count)] + topic
        expectDecodeError(.malformedPacket, reasonCode: .malformedPacket, header(0x30, body), .v311)
        expectDecodeError(.malformedPacket, header(0x30, body + [0x00]), .v5)
        // The same bytes as a client identifier, user name and topic filter.
        let connect = mqttString("MQTT") + [0x04, 0x02, 0x00, 0x00] + body
        expectDecodeError(.malformedPacket, header(0x10, connect), .v311)
        expectDecodeError(.malformedPacket, header(0x82, [0x00, 0x01] + body + [0x00]), .v311)
        expectDecodeError(.malformedPacket, header(0xA2, [0x00, 0x01] + body), .v311)
    }

    @Test(arguments: ["a/+", "#", "a/#", "+", "a+b"])
    func wildcardInTopicName(topic: String) {
        expectDecodeError(
            .invalidTopic, reasonCode: .topicNameInvalid, header(0x30, mqttString(topic)), .v311)
        expectDecodeError(.invalidTopic, header(0x30, mqttString(topic) + [0x00]), .v5)
    }

    @Test func emptyTopicNameWithoutAlias() {
        expectDecodeError(.invalidTopic, [0x30, 0x02, 0x00, 0x00], .v311)
        expectDecodeError(.invalidTopic, [0x30, 0x03, 0x00, 0x00, 0x00], .v5)
        // With a Topic Alias (0x23) it is valid in MQTT 5.
        #expect(
            (try? decodeOne([0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01], .v5)) != nil
        )
    }

    @Test(arguments: ["a/#/b", "a#", "a/b+", "+a", "", "##", "$share/g", "$share//a", "$share/g+/a", "$share/g/"])
    func invalidTopicFilter(filter: String) {
        expectDecodeError(
            .invalidTopic, reasonCode: .topicFilterInvalid,
            header(0x82, [0x00, 0x01] + mqttString(filter) + [0x00]), .v311)
        expectDecodeError(.invalidTopic, header(0xA2, [0x00, 0x01, 0x00] + mqttString(filter)), .v5)
    }

    // MARK: Properties

    /// A PUBACK carrying `properties` (without the length byte).
    func pubAckWithProperties(_ properties: [UInt8]) -> [UInt8] {
        header(0x40, [0x00, 0x01, 0x00, UInt8(properties.count)] + properties)
    }

    @Test func propertyLengthExceedsPacket() {
        expectDecodeError(.malformedPacket, [0x40, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1F], .v5)
    }

    @Test func unknownPropertyIdentifier() {
        for identifier: UInt8 in [0x00, 0x04, 0x0A, 0x14, 0x2B, 0x7F] {
            expectDecodeError(.malformedPacket, pubAckWithProperties([identifier, 0x00]), .v5)
        }
        // A two-byte identifier (0x80 0x01 = 128) is unknown as well.
        expectDecodeError(.malformedPacket, pubAckWithProperties([0x80, 0x01, 0x00]), .v5)
    }

    @Test func propertyNotAllowedInPacket() {
        // Topic Alias (0x23) in PUBACK, Session Expiry Interval (0x11) in PUBACK.
        expectDecodeError(.malformedPacket, pubAckWithProperties([0x23, 0x00, 0x01]), .v5)
        expectDecodeError(.malformedPacket, pubAckWithProperties([0x11, 0, 0, 0, 1]), .v5)
        // Will Delay Interval (0x18) in CONNECT properties rather than Will properties.
        let connect = mqttString("MQTT") + [0x05, 0x02, 0x00, 0x00, 0x05, 0x18, 0, 0, 0, 1] + mqttString("c")
        expectDecodeError(.malformedPacket, header(0x10, connect), .v5)
        // Maximum QoS (0x24) in DISCONNECT.
        expectDecodeError(.malformedPacket, [0xE0, 0x04, 0x00, 0x02, 0x24, 0x00], .v5)
    }

    @Test func truncatedPropertyValue() {
        expectDecodeError(.malformedPacket, pubAckWithProperties([0x1F, 0x00, 0x05, 0x61]), .v5)
        expectDecodeError(.malformedPacket, pubAckWithProperties([0x26, 0x00, 0x01, 0x61]), .v5)
        let connack = [0x00, 0x00, 0x03, 0x27, 0x00, 0x01] as [UInt8]
        expectDecodeError(.malformedPacket, header(0x20, connack), .v5)
    }

    @Test func duplicateProperty() {
        expectDecodeError(
            .protocolError, reasonCode: .protocolError,
            pubAckWithProperties([0x1F, 0x00, 0x01, 0x61, 0x1F, 0x00, 0x01, 0x62]), .v5)
        // Receive Maximum twice in CONNACK.
        expectDecodeError(.protocolError, header(0x20, [0x00, 0x00, 0x06, 0x21, 0x00, 0x01, 0x21, 0x00, 0x02]), .v5)
        // Subscription Identifier twice in SUBSCRIBE (allowed twice in PUBLISH).
        let subscribe = [0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02] + mqttString("a") + [0x00]
        expectDecodeError(.protocolError, header(0x82, subscribe), .v5)
        let publish = mqttString("a") + [0x04, 0x0B, 0x01, 0x0B, 0x02]
        #expect((try? decodeOne(header(0x30, publish), .v5)) != nil)
        // User Property repeats freely.
        #expect(
            (try? decodeOne(pubAckWithProperties([0x26, 0, 1, 0x61, 0, 0, 0x26, 0, 1, 0x61, 0, 0]), .v5)) != nil)
    }

    @Test func propertyValuesOutOfRange() {
        let cases: [[UInt8]] = [
            [0x21, 0x00, 0x00],  // Receive Maximum 0
            [0x27, 0, 0, 0, 0],  // Maximum Packet Size 0
            [0x24, 0x02],  // Maximum QoS 2
            [0x25, 0x02],  // Retain Available 2
            [0x28, 0xFF],  // Wildcard Subscription Available
            [0x29, 0x02],  // Subscription Identifier Available
            [0x2A, 0x02],  // Shared Subscription Available
        ]
        for property in cases {
            let connack = [0x00, 0x00, UInt8(property.count)] + property
            expectDecodeError(.protocolError, header(0x20, connack), .v5)
        }
        // Topic Alias 0, Payload Format Indicator 2, Subscription Identifier 0 in PUBLISH.
        for property: [UInt8] in [[0x23, 0x00, 0x00], [0x01, 0x02], [0x0B, 0x00]] {
            expectDecodeError(.protocolError, header(0x30, mqttString("a") + [UInt8(property.count)] + property), .v5)
        }
        // Request Problem Information 2 in CONNECT.
        let connect = mqttString("MQTT") + [0x05, 0x02, 0x00, 0x00, 0x02, 0x17, 0x02] + mqttString("c")
        expectDecodeError(.protocolError, header(0x10, connect), .v5)
        // Response Topic with a wildcard.
        let publish = mqttString("a") + [0x06, 0x08] + mqttString("r/#")
        expectDecodeError(.invalidTopic, header(0x30, publish), .v5)
        // A Subscription Identifier that is a 5-byte Variable Byte Integer.
        expectDecodeError(
            .malformedPacket, header(0x30, mqttString("a") + [0x06, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01]), .v5)
    }

    // MARK: Packet specific

    @Test func connectRejections() {
        func connect(level: UInt8 = 0x04, flags: UInt8, rest: [UInt8] = mqttString("c")) -> [UInt8] {
            header(0x10, mqttString("MQTT") + [level, flags, 0x00, 0x3C] + rest)
        }
        expectDecodeError(.malformedPacket, connect(flags: 0x03), .v311)  // reserved bit
        expectDecodeError(.malformedPacket, connect(flags: 0x1E), .v311)  // Will QoS 3
        expectDecodeError(.malformedPacket, connect(flags: 0x08), .v311)  // Will QoS without Will
        expectDecodeError(.malformedPacket, connect(flags: 0x20), .v311)  // Will Retain without Will
        // Password without user name: malformed in 3.1.1, allowed in 5.
        expectDecodeError(.malformedPacket, connect(flags: 0x40, rest: mqttString("c") + [0x00, 0x00]), .v311)
        #expect(
            (try? decodeOne(connect(level: 0x05, flags: 0x40, rest: [0x00] + mqttString("c") + [0x00, 0x00]), .v5))
                != nil)
        expectDecodeError(
            .unsupportedProtocolVersion, reasonCode: .unsupportedProtocolVersion, connect(level: 0x03, flags: 0x02),
            .v5)
        expectDecodeError(
            .unsupportedProtocolVersion,
            header(0x10, mqttString("MQIsdp") + [0x03, 0x02, 0x00, 0x3C] + mqttString("c")), .v311)
        // Will topic with a wildcard.
        let will = mqttString("c") + mqttString("w/+") + [0x00, 0x00]
        expectDecodeError(.invalidTopic, connect(flags: 0x06, rest: will), .v311)
    }

    @Test func connAckRejections() {
        expectDecodeError(.malformedPacket, [0x20, 0x02, 0x02, 0x00], .v311)  // reserved flag
        expectDecodeError(.malformedPacket, [0x20, 0x02, 0x00, 0x06], .v311)  // return code 6
        expectDecodeError(.protocolError, [0x20, 0x02, 0x01, 0x05], .v311)  // session present on failure
        expectDecodeError(.malformedPacket, [0x20, 0x03, 0x00, 0x10, 0x00], .v5)  // 0x10 not a CONNACK code
        expectDecodeError(.malformedPacket, [0x20, 0x02, 0x00, 0x00], .v5)  // no property length
    }

    @Test func acknowledgmentRejections() {
        expectDecodeError(.protocolError, [0x40, 0x02, 0x00, 0x00], .v311)  // packet id 0
        expectDecodeError(.malformedPacket, [0x40, 0x03, 0x00, 0x01, 0x92], .v5)  // PUBREL code in PUBACK
        expectDecodeError(.malformedPacket, [0x62, 0x03, 0x00, 0x01, 0x10], .v5)  // PUBACK code in PUBREL
        expectDecodeError(.malformedPacket, [0x70, 0x01, 0x00], .v5)
    }

    @Test func subscribeRejections() {
        let filter = mqttString("a")
        expectDecodeError(.malformedPacket, header(0x82, [0x00, 0x01] + filter + [0x04]), .v311)  // No Local in 3.1.1
        expectDecodeError(.malformedPacket, header(0x82, [0x00, 0x01, 0x00] + filter + [0x40]), .v5)  // bit 6
        expectDecodeError(.malformedPacket, header(0x82, [0x00, 0x01, 0x00] + filter + [0x03]), .v5)  // QoS 3
        expectDecodeError(.protocolError, header(0x82, [0x00, 0x01, 0x00] + filter + [0x30]), .v5)  // Retain Handling 3
        expectDecodeError(.protocolError, [0x82, 0x02, 0x00, 0x01], .v311)  // no filter
        expectDecodeError(.protocolError, [0xA2, 0x03, 0x00, 0x01, 0x00], .v5)  // UNSUBSCRIBE without filter
        expectDecodeError(.malformedPacket, header(0x82, [0x00, 0x01] + filter), .v311)  // options byte missing
        let shared = mqttString("$share/g/a")
        expectDecodeError(.protocolError, header(0x82, [0x00, 0x01, 0x00] + shared + [0x04]), .v5)  // No Local shared
    }

    @Test func subAckAndUnsubAckRejections() {
        expectDecodeError(.malformedPacket, [0x90, 0x03, 0x00, 0x01, 0x83], .v311)
        expectDecodeError(.malformedPacket, [0x90, 0x04, 0x00, 0x01, 0x00, 0x11], .v5)
        expectDecodeError(.protocolError, [0x90, 0x02, 0x00, 0x01], .v311)
        expectDecodeError(.protocolError, [0xB0, 0x03, 0x00, 0x01, 0x00], .v5)
        expectDecodeError(.malformedPacket, [0xB0, 0x04, 0x00, 0x01, 0x00, 0x01], .v5)
    }

    @Test func disconnectAndAuthRejections() {
        expectDecodeError(.malformedPacket, [0xE0, 0x01, 0x01], .v5)
        expectDecodeError(.malformedPacket, [0xF0, 0x02, 0x81, 0x00], .v5)  // not an AUTH code
        expectDecodeError(.protocolError, [0xF0, 0x02, 0x18, 0x00], .v5)  // no Authentication Method
        expectDecodeError(.malformedPacket, [0xF0, 0x01, 0x18], .v5)  // no property length
    }

    /// After an error the decoder in a channel stays failed; a fresh decoder accepts valid input.
    @Test func decoderReportsErrorThroughDecodeLast() {
        var decoder = MQTTPacketDecoder(version: .v5)
        var input = buffer([0x30, 0x05, 0x00])
        expectMQTTError(.malformedPacket) {
            _ = try decoder.decodeLast(buffer: &input, seenEOF: true)
        }
        var empty = ByteBuffer()
        #expect((try? decoder.decodeLast(buffer: &empty, seenEOF: true)) == .some(nil))
    }
}

@Suite struct CodecEncodeRejectionTests {
    static let payload = ByteBuffer(string: "p")

    @Test(arguments: ["", "a/+", "#", "a\u{0}b", String(repeating: "x", count: 65_536)])
    func invalidPublishTopic(topic: String) {
        for version in MQTTProtocolVersion.allCases {
            expectEncodeError(.invalidTopic, .publish(MQTTPublish(topic: topic, payload: Self.payload)), version)
        }
    }

    @Test func longestTopicIsAccepted() throws {
        let topic = String(repeating: "x", count: 65_535)
        let bytes = try encoded(.publish(MQTTPublish(topic: topic, payload: Self.payload)), .v5)
        #expect(bytes.count == 1 + 3 + 2 + 65_535 + 1 + 1)
    }

    @Test func emptyTopicNeedsAliasAndMQTT5() throws {
        var alias = MQTTProperties()
        alias.topicAlias = 2
        #expect(throws: Never.self) {
            try encoded(.publish(MQTTPublish(topic: "", payload: Self.payload, properties: alias)), .v5)
        }
        expectEncodeError(
            .invalidArgument, .publish(MQTTPublish(topic: "", payload: Self.payload, properties: alias)), .v311)
    }

    @Test(arguments: ["a/#/b", "a#", "+a", "", "$share/g", "$share//a", "$share/g#/a", "$share/g/", "a\u{0}"])
    func invalidFilter(filter: String) {
        for version in MQTTProtocolVersion.allCases {
            expectEncodeError(
                .invalidTopic, reasonCode: .topicFilterInvalid,
                .subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: filter)])),
                version)
            expectEncodeError(
                .invalidTopic, .unsubscribe(MQTTUnsubscribe(packetIdentifier: 1, topicFilters: [filter])), version)
        }
    }

    @Test func payloadLargerThanPeerMaximum() throws {
        let packet = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(repeating: 7, count: 100)))
        // 1 + 1 + 3 + 100 = 105 bytes.
        expectEncodeError(.packetTooLarge, reasonCode: .packetTooLarge, packet, .v311, maxPacketSize: 104)
        expectEncodeError(.packetTooLarge, packet, .v5, maxPacketSize: 99)
        #expect(try encoded(packet, .v311).count == 105)
        var out = ByteBuffer()
        try packet.encode(into: &out, version: .v311, maxPacketSize: 105)
        #expect(out.readableBytes == 105)
        var properties = MQTTProperties()
        properties.userProperties = [.init(name: String(repeating: "n", count: 200), value: "")]
        expectEncodeError(.packetTooLarge, .connack(MQTTConnAck(properties: properties)), .v5, maxPacketSize: 100)
    }

    @Test func mqtt5FieldsInMQTT311() {
        var reason = MQTTProperties()
        reason.reasonString = "r"
        let packets: [MQTTPacket] = [
            .connect(MQTTConnect(clientIdentifier: "c", properties: reason)),
            .connect(MQTTConnect(clientIdentifier: "c", password: [1])),
            .connack(MQTTConnAck(reasonCode: .banned)),
            .connack(MQTTConnAck(properties: reason)),
            .puback(MQTTPubAck(packetIdentifier: 1, reasonCode: .quotaExceeded)),
            .pubrel(MQTTPubAck(packetIdentifier: 1, properties: reason)),
            .subscribe(
                MQTTSubscribe(
                    packetIdentifier: 1,
                    subscriptions: [MQTTSubscription(topicFilter: "a", options: .init(noLocal: true))]
                )),
            .suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.notAuthorized])),
            .unsuback(MQTTUnsubAck(packetIdentifier: 1, reasonCodes: [.success])),
            .disconnect(MQTTDisconnect(reasonCode: .malformedPacket)),
            .auth(MQTTAuth()),
        ]
        for packet in packets {
            expectEncodeError(.invalidArgument, packet, .v311)
        }
    }

    @Test func invalidFieldsAndProperties() {
        var topicAlias = MQTTProperties()
        topicAlias.topicAlias = 1
        var zeroAlias = MQTTProperties()
        zeroAlias.topicAlias = 0
        var twoIdentifiers = MQTTProperties()
        twoIdentifiers.subscriptionIdentifiers = [1, 2]
        var zeroIdentifier = MQTTProperties()
        zeroIdentifier.subscriptionIdentifiers = [0]
        var hugeIdentifier = MQTTProperties()
        hugeIdentifier.subscriptionIdentifiers = [268_435_456]
        var maxQoS2 = MQTTProperties()
        maxQoS2.maximumQoS = .exactlyOnce
        var receiveMaximumZero = MQTTProperties()
        receiveMaximumZero.receiveMaximum = 0
        var wildcardResponse = MQTTProperties()
        wildcardResponse.responseTopic = "a/+"
        let filter = [MQTTSubscription(topicFilter: "a")]
        let packets: [MQTTPacket] = [
            .connack(MQTTConnAck(properties: topicAlias)),
            .publish(MQTTPublish(topic: "a", payload: Self.payload, properties: zeroAlias)),
            .publish(MQTTPublish(topic: "a", payload: Self.payload, properties: zeroIdentifier)),
            .publish(MQTTPublish(topic: "a", payload: Self.payload, properties: hugeIdentifier)),
            .publish(MQTTPublish(topic: "a", payload: Self.payload, qos: .atLeastOnce)),
            .publish(MQTTPublish(topic: "a", payload: Self.payload, packetIdentifier: 1)),
            .publish(MQTTPublish(topic: "a", payload: Self.payload, dup: true)),
            .publish(MQTTPublish(topic: "a", payload: Self.payload, qos: .exactlyOnce, packetIdentifier: 0)),
            .subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: filter, properties: twoIdentifiers)),
            .subscribe(MQTTSubscribe(packetIdentifier: 0, subscriptions: filter)),
            .subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [])),
            .subscribe(
                MQTTSubscribe(
                    packetIdentifier: 1,
                    subscriptions: [MQTTSubscription(topicFilter: "$share/g/a", options: .init(noLocal: true))])),
            .unsubscribe(MQTTUnsubscribe(packetIdentifier: 1, topicFilters: [])),
            .connack(MQTTConnAck(properties: maxQoS2)),
            .connect(MQTTConnect(clientIdentifier: "c", properties: receiveMaximumZero)),
            .connack(MQTTConnAck(sessionPresent: true, reasonCode: .notAuthorized)),
            .connack(MQTTConnAck(reasonCode: .noMatchingSubscribers)),
            .puback(MQTTPubAck(packetIdentifier: 0)),
            .puback(MQTTPubAck(packetIdentifier: 1, reasonCode: .packetIdentifierNotFound)),
            .pubcomp(MQTTPubAck(packetIdentifier: 1, reasonCode: .quotaExceeded)),
            .suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [])),
            .suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.noSubscriptionExisted])),
            .unsuback(MQTTUnsubAck(packetIdentifier: 1, reasonCodes: [])),
            .unsuback(MQTTUnsubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1])),
            .disconnect(MQTTDisconnect(reasonCode: .continueAuthentication)),
            .auth(MQTTAuth(reasonCode: .continueAuthentication)),
            .auth(
                MQTTAuth(
                    reasonCode: .unspecifiedError,
                    properties: {
                        var p = MQTTProperties()
                        p.authenticationMethod = "m"
                        return p
                    }())),
            .connect(MQTTConnect(clientIdentifier: "c", username: "a\u{0}")),
            .connect(MQTTConnect(clientIdentifier: "c", password: [UInt8](repeating: 0, count: 65_536))),
            .connect(
                MQTTConnect(
                    clientIdentifier: "c",
                    will: MQTTWill(topic: "w", payload: ByteBuffer(repeating: 0, count: 65_536)))),
            .connect(
                MQTTConnect(
                    clientIdentifier: "c", will: MQTTWill(topic: "w", payload: Self.payload, properties: topicAlias))),
        ]
        for packet in packets {
            expectEncodeError(.invalidArgument, packet, .v5)
        }
        expectEncodeError(.invalidTopic, .connack(MQTTConnAck(properties: wildcardResponse)), .v5)
        expectEncodeError(
            .invalidTopic,
            .connect(MQTTConnect(clientIdentifier: "c", will: MQTTWill(topic: "w/#", payload: Self.payload))),
            .v5)
    }
}

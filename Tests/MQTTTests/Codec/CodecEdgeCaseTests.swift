import MQTT
import NIOCore
import Testing

/// A Property Length (below 128) followed by the hand-written properties.
private func props(_ bytes: [UInt8]) -> [UInt8] {
    precondition(bytes.count < 128)
    return [UInt8(bytes.count)] + bytes
}

/// Hand-written MQTT 5 vectors with every property a packet allows, and the MQTT 3.1.1 / 5.0
/// differences in short forms.
@Suite struct CodecEdgeCaseTests {
    /// Every CONNACK property, in identifier order, each value written out by hand.
    static let connAckProperties: [[UInt8]] = [
        [0x11, 0x00, 0x00, 0x00, 0x78],  // Session Expiry Interval 120
        [0x12, 0x00, 0x02, 0x69, 0x64],  // Assigned Client Identifier "id"
        [0x13, 0x00, 0x1E],  // Server Keep Alive 30
        [0x15, 0x00, 0x01, 0x6D],  // Authentication Method "m"
        [0x16, 0x00, 0x01, 0x07],  // Authentication Data [7]
        [0x1A, 0x00, 0x01, 0x72],  // Response Information "r"
        [0x1C, 0x00, 0x01, 0x73],  // Server Reference "s"
        [0x1F, 0x00, 0x01, 0x78],  // Reason String "x"
        [0x21, 0x00, 0x0A],  // Receive Maximum 10
        [0x22, 0x00, 0x05],  // Topic Alias Maximum 5
        [0x24, 0x00],  // Maximum QoS 0
        [0x25, 0x01],  // Retain Available
        [0x26, 0x00, 0x01, 0x6B, 0x00, 0x01, 0x76],  // User Property k=v
        [0x27, 0x00, 0x01, 0x00, 0x00],  // Maximum Packet Size 65536
        [0x28, 0x01],  // Wildcard Subscription Available
        [0x29, 0x00],  // Subscription Identifier Available: no
        [0x2A, 0x01],  // Shared Subscription Available
    ]

    static func connAckWithEveryProperty() -> MQTTPacket {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 120
        properties.assignedClientIdentifier = "id"
        properties.serverKeepAlive = 30
        properties.authenticationMethod = "m"
        properties.authenticationData = [7]
        properties.responseInformation = "r"
        properties.serverReference = "s"
        properties.reasonString = "x"
        properties.receiveMaximum = 10
        properties.topicAliasMaximum = 5
        properties.maximumQoS = .atMostOnce
        properties.retainAvailable = true
        properties.userProperties = [MQTTUserProperty(name: "k", value: "v")]
        properties.maximumPacketSize = 65_536
        properties.wildcardSubscriptionAvailable = true
        properties.subscriptionIdentifierAvailable = false
        properties.sharedSubscriptionAvailable = true
        return .connack(MQTTConnAck(sessionPresent: true, properties: properties))
    }

    @Test func connAckWithEveryPropertyBytes() throws {
        let bytes = header(0x20, [0x01, 0x00] + props(Self.connAckProperties.flatMap { $0 }))
        #expect(try decodeOne(bytes, .v5) == Self.connAckWithEveryProperty())
        #expect(try encoded(Self.connAckWithEveryProperty(), .v5) == bytes)
    }

    /// Properties may come in any order on the wire.
    @Test func propertyOrderDoesNotMatter() throws {
        let reversed = header(0x20, [0x01, 0x00] + props(Self.connAckProperties.reversed().flatMap { $0 }))
        #expect(try decodeOne(reversed, .v5) == Self.connAckWithEveryProperty())
    }

    @Test func publishWithEveryProperty() throws {
        let properties: [UInt8] =
            [0x01, 0x01]  // Payload Format Indicator: UTF-8
            + [0x02, 0x00, 0x00, 0x00, 0x3C]  // Message Expiry Interval 60
            + [0x03, 0x00, 0x01, 0x74]  // Content Type "t"
            + [0x08, 0x00, 0x03, 0x72, 0x2F, 0x31]  // Response Topic "r/1"
            + [0x09, 0x00, 0x02, 0xDE, 0xAD]  // Correlation Data
            + [0x0B, 0x05]  // Subscription Identifier 5
            + [0x0B, 0x80, 0x01]  // Subscription Identifier 128 (two-byte Variable Byte Integer)
            + [0x23, 0x00, 0x03]  // Topic Alias 3
            + [0x26, 0x00, 0x01, 0x61, 0x00, 0x01, 0x31]  // User Property a=1
        let bytes = header(0x33, mqttString("a/b") + [0x01, 0x02] + props(properties) + [0x78])
        var expected = MQTTProperties()
        expected.payloadFormatIndicator = .utf8
        expected.messageExpiryInterval = 60
        expected.contentType = "t"
        expected.responseTopic = "r/1"
        expected.correlationData = [0xDE, 0xAD]
        expected.subscriptionIdentifiers = [5, 128]
        expected.topicAlias = 3
        expected.userProperties = [MQTTUserProperty(name: "a", value: "1")]
        let packet = MQTTPacket.publish(
            MQTTPublish(
                topic: "a/b", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: true,
                packetIdentifier: 0x0102,
                properties: expected))
        #expect(try decodeOne(bytes, .v5) == packet)
        #expect(try encoded(packet, .v5) == bytes)
    }

    @Test func connectWithWillProperties() throws {
        let willProperties: [UInt8] =
            [0x01, 0x01]  // Payload Format Indicator: UTF-8
            + [0x02, 0x00, 0x00, 0x00, 0x3C]  // Message Expiry Interval 60
            + [0x03, 0x00, 0x01, 0x74]  // Content Type "t"
            + [0x08, 0x00, 0x01, 0x72]  // Response Topic "r"
            + [0x09, 0x00, 0x01, 0x01]  // Correlation Data [1]
            + [0x18, 0x00, 0x00, 0x00, 0x0A]  // Will Delay Interval 10
            + [0x26, 0x00, 0x01, 0x6B, 0x00, 0x01, 0x76]  // User Property k=v
        // Flags 0x36: Will Retain, Will QoS 2, Will Flag, Clean Start.
        let body =
            mqttString("MQTT") + [0x05, 0x36, 0x00, 0x3C] + props([]) + mqttString("c") + props(willProperties)
            + mqttString("w") + mqttString("bye")
        let bytes = header(0x10, body)
        var expected = MQTTProperties()
        expected.payloadFormatIndicator = .utf8
        expected.messageExpiryInterval = 60
        expected.contentType = "t"
        expected.responseTopic = "r"
        expected.correlationData = [1]
        expected.willDelayInterval = 10
        expected.userProperties = [MQTTUserProperty(name: "k", value: "v")]
        let packet = MQTTPacket.connect(
            MQTTConnect(
                protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientIdentifier: "c",
                will: MQTTWill(
                    topic: "w", payload: ByteBuffer(string: "bye"), qos: .exactlyOnce, retain: true,
                    properties: expected)))
        #expect(try decodeOne(bytes, .v5) == packet)
        #expect(try encoded(packet, .v5) == bytes)
        // The same Will properties in the CONNECT properties are not allowed.
        let misplaced =
            mqttString("MQTT") + [0x05, 0x02, 0x00, 0x3C] + props([0x18, 0x00, 0x00, 0x00, 0x0A]) + mqttString("c")
        expectDecodeError(.malformedPacket, header(0x10, misplaced), .v5)
    }

    @Test func subscribeWithSubscriptionIdentifier() throws {
        let properties: [UInt8] = [0x0B, 0x2A, 0x26, 0x00, 0x01, 0x6B, 0x00, 0x01, 0x76]
        let bytes = header(0x82, [0x00, 0x05] + props(properties) + mqttString("#") + [0x01])
        var expected = MQTTProperties()
        expected.subscriptionIdentifiers = [42]
        expected.userProperties = [MQTTUserProperty(name: "k", value: "v")]
        let packet = MQTTPacket.subscribe(
            MQTTSubscribe(
                packetIdentifier: 5,
                subscriptions: [MQTTSubscription(topicFilter: "#", options: .init(qos: .atLeastOnce))],
                properties: expected))
        #expect(try decodeOne(bytes, .v5) == packet)
        #expect(try encoded(packet, .v5) == bytes)
    }

    @Test func subAckAndUnsubAckReasonCodeLists() throws {
        let suback = [0x90, 0x0A, 0x00, 0x07, 0x00, 0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F] as [UInt8]
        let subackCodes: [MQTTReasonCode] = [
            .grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError, .implementationSpecificError, .notAuthorized,
            .topicFilterInvalid,
        ]
        #expect(try decodeOne(suback, .v5) == .suback(MQTTSubAck(packetIdentifier: 7, reasonCodes: subackCodes)))
        let more = [0x90, 0x08, 0x00, 0x07, 0x00, 0x91, 0x97, 0x9E, 0xA1, 0xA2] as [UInt8]
        let moreCodes: [MQTTReasonCode] = [
            .packetIdentifierInUse, .quotaExceeded, .sharedSubscriptionsNotSupported,
            .subscriptionIdentifiersNotSupported, .wildcardSubscriptionsNotSupported,
        ]
        #expect(try decodeOne(more, .v5) == .suback(MQTTSubAck(packetIdentifier: 7, reasonCodes: moreCodes)))
        let unsuback = [0xB0, 0x0A, 0x00, 0x08, 0x00, 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91] as [UInt8]
        let unsubackCodes: [MQTTReasonCode] = [
            .success, .noSubscriptionExisted, .unspecifiedError, .implementationSpecificError, .notAuthorized,
            .topicFilterInvalid, .packetIdentifierInUse,
        ]
        #expect(
            try decodeOne(unsuback, .v5) == .unsuback(MQTTUnsubAck(packetIdentifier: 8, reasonCodes: unsubackCodes)))
        #expect(try encoded(.unsuback(MQTTUnsubAck(packetIdentifier: 8, reasonCodes: unsubackCodes)), .v5) == unsuback)
        // MQTT 3.1.1 UNSUBACK is the packet identifier only; reason codes there are trailing bytes.
        expectDecodeError(.malformedPacket, [0xB0, 0x03, 0x00, 0x08, 0x00], .v311)
    }

    /// MQTT 5 acknowledgments and DISCONNECT have a long form (reason code + property length) and
    /// short forms; all decode to the same value and the encoder writes the shortest.
    @Test func acknowledgmentShortAndLongForms() throws {
        let ack = MQTTPacket.puback(MQTTPubAck(packetIdentifier: 1))
        for bytes: [UInt8] in [
            [0x40, 0x02, 0x00, 0x01], [0x40, 0x03, 0x00, 0x01, 0x00], [0x40, 0x04, 0x00, 0x01, 0x00, 0x00],
        ] {
            #expect(try decodeOne(bytes, .v5) == ack)
        }
        #expect(try encoded(ack, .v5) == [0x40, 0x02, 0x00, 0x01])
        // In MQTT 3.1.1 only the two-byte form exists.
        expectDecodeError(.malformedPacket, [0x40, 0x03, 0x00, 0x01, 0x00], .v311)
        let pubrec = MQTTPacket.pubrec(MQTTPubAck(packetIdentifier: 1, reasonCode: .quotaExceeded))
        #expect(try decodeOne([0x50, 0x04, 0x00, 0x01, 0x97, 0x00], .v5) == pubrec)
        #expect(try encoded(pubrec, .v5) == [0x50, 0x03, 0x00, 0x01, 0x97])
        var reason = MQTTProperties()
        reason.reasonString = "ok"
        let pubcomp = MQTTPacket.pubcomp(MQTTPubAck(packetIdentifier: 1, properties: reason))
        let pubcompBytes: [UInt8] = [0x70, 0x09, 0x00, 0x01, 0x00, 0x05, 0x1F, 0x00, 0x02, 0x6F, 0x6B]
        #expect(try decodeOne(pubcompBytes, .v5) == pubcomp)
        #expect(try encoded(pubcomp, .v5) == pubcompBytes)

        let disconnect = MQTTPacket.disconnect(MQTTDisconnect())
        for bytes: [UInt8] in [[0xE0, 0x00], [0xE0, 0x01, 0x00], [0xE0, 0x02, 0x00, 0x00]] {
            #expect(try decodeOne(bytes, .v5) == disconnect)
        }
        #expect(try encoded(disconnect, .v5) == [0xE0, 0x00])
        var expiry = MQTTProperties()
        expiry.sessionExpiryInterval = 0
        let withExpiry = MQTTPacket.disconnect(MQTTDisconnect(properties: expiry))
        let expiryBytes: [UInt8] = [0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00]
        #expect(try decodeOne(expiryBytes, .v5) == withExpiry)
        #expect(try encoded(withExpiry, .v5) == expiryBytes)
    }

    /// An enhanced authentication exchange: CONNECT with method and data, AUTH continue both ways,
    /// CONNACK success with the method, then a re-authentication.
    @Test func authenticationExchange() throws {
        let method = mqttString("SCRAM")
        let connect =
            mqttString("MQTT") + [0x05, 0x02, 0x00, 0x00]
            + props([0x15] + method + [0x16, 0x00, 0x01, 0x01]) + mqttString("c")
        let serverContinue = [0x18] + props([0x15] + method + [0x16, 0x00, 0x01, 0x02])
        let clientContinue = [0x18] + props([0x15] + method + [0x16, 0x00, 0x01, 0x03])
        let connack = [0x00, 0x00] + props([0x15] + method)
        let reauthenticate = [0x19] + props([0x15] + method + [0x16, 0x00, 0x01, 0x04])
        func properties(_ data: [UInt8]?) -> MQTTProperties {
            var properties = MQTTProperties()
            properties.authenticationMethod = "SCRAM"
            properties.authenticationData = data
            return properties
        }
        let flow: [([UInt8], MQTTPacket)] = [
            (
                header(0x10, connect),
                .connect(MQTTConnect(keepAlive: 0, clientIdentifier: "c", properties: properties([1])))
            ),
            (
                header(0xF0, serverContinue),
                .auth(MQTTAuth(reasonCode: .continueAuthentication, properties: properties([2])))
            ),
            (
                header(0xF0, clientContinue),
                .auth(MQTTAuth(reasonCode: .continueAuthentication, properties: properties([3])))
            ),
            (header(0x20, connack), .connack(MQTTConnAck(properties: properties(nil)))),
            (header(0xF0, reauthenticate), .auth(MQTTAuth(reasonCode: .reAuthenticate, properties: properties([4])))),
        ]
        for (bytes, packet) in flow {
            #expect(try decodeOne(bytes, .v5) == packet)
            #expect(try encoded(packet, .v5) == bytes)
        }
        // Authentication Method repeated in one AUTH.
        let repeated = [0x18] + props([0x15] + method + [0x15] + method)
        expectDecodeError(.protocolError, header(0xF0, repeated), .v5)
    }

    /// MQTT 3.1.1 CONNACK return codes map onto MQTT 5 reason codes and back.
    @Test func connAckReturnCodesV311() throws {
        let mapping: [(UInt8, MQTTReasonCode)] = [
            (0, .success), (1, .unsupportedProtocolVersion), (2, .clientIdentifierNotValid), (3, .serverUnavailable),
            (4, .badUserNameOrPassword), (5, .notAuthorized),
        ]
        for (returnCode, reasonCode) in mapping {
            let bytes: [UInt8] = [0x20, 0x02, 0x00, returnCode]
            #expect(try decodeOne(bytes, .v311) == .connack(MQTTConnAck(reasonCode: reasonCode)))
            #expect(try encoded(.connack(MQTTConnAck(reasonCode: reasonCode)), .v311) == bytes)
        }
    }

    @Test func topicAliasWithAndWithoutName() throws {
        var alias = MQTTProperties()
        alias.topicAlias = 0xFFFF
        let named = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(), properties: alias))
        let bytes: [UInt8] = [0x30, 0x07, 0x00, 0x01, 0x74, 0x03, 0x23, 0xFF, 0xFF]
        #expect(try decodeOne(bytes, .v5) == named)
        #expect(try encoded(named, .v5) == bytes)
    }

    @Test func reasonCodeNames() {
        #expect(MQTTReasonCode.malformedPacket.description == "Malformed Packet (0x81)")
        #expect(MQTTReasonCode(rawValue: 0x03).description == "unknown (0x03)")
        #expect(MQTTReasonCode.success.isFailure == false)
        #expect(MQTTReasonCode.unspecifiedError.isFailure)
    }
}

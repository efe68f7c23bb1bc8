import MQTT
import NIOCore
import Testing

/// Byte vectors written by hand from the text of the MQTT 3.1.1 and 5.0 specifications; the expected
/// bytes never come from this encoder.
@Suite struct CodecSpecVectorTests {
    /// MQTT 3.1.1 §3.1.2.10 variable header example: protocol name, level 4, flags 0xCE, keep alive 10,
    /// followed by a payload in the §3.1.3 order (client id, will topic, will message, user, password).
    static let connectV3: [UInt8] =
        [0x10, 34] + [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0xCE, 0x00, 0x0A]
        + [0x00, 0x03, 0x63, 0x69, 0x64]  // "cid"
        + [0x00, 0x03, 0x61, 0x2F, 0x62]  // will topic "a/b"
        + [0x00, 0x02, 0x68, 0x69]  // will message "hi"
        + [0x00, 0x04, 0x75, 0x73, 0x65, 0x72]  // "user"
        + [0x00, 0x02, 0x70, 0x77]  // password "pw"

    static func connectV3Packet() -> MQTTPacket {
        .connect(
            MQTTConnect(
                protocolVersion: .v311,
                cleanStart: true,
                keepAlive: 10,
                clientIdentifier: "cid",
                username: "user",
                password: [0x70, 0x77],
                will: MQTTWill(topic: "a/b", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce, retain: false)
            )
        )
    }

    /// MQTT 5 §3.1.2.11 Figure 3-6 variable header example: level 5, flags 0xCE, keep alive 10,
    /// properties: Session Expiry Interval 10, Receive Maximum 20.
    static let connectV5: [UInt8] =
        [0x10, 44] + [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0xCE, 0x00, 0x0A]
        + [0x08, 0x11, 0x00, 0x00, 0x00, 0x0A, 0x21, 0x00, 0x14]
        + [0x00, 0x03, 0x63, 0x69, 0x64]  // "cid"
        + [0x00]  // no will properties
        + [0x00, 0x03, 0x61, 0x2F, 0x62]  // will topic "a/b"
        + [0x00, 0x02, 0x68, 0x69]  // will payload "hi"
        + [0x00, 0x04, 0x75, 0x73, 0x65, 0x72]  // "user"
        + [0x00, 0x02, 0x70, 0x77]  // "pw"

    static func connectV5Packet() -> MQTTPacket {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 10
        properties.receiveMaximum = 20
        return .connect(
            MQTTConnect(
                protocolVersion: .v5,
                cleanStart: true,
                keepAlive: 10,
                clientIdentifier: "cid",
                username: "user",
                password: [0x70, 0x77],
                will: MQTTWill(topic: "a/b", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce),
                properties: properties
            )
        )
    }

    /// (bytes, version, packet) triples covering every packet kind.
    static func vectors() -> [([UInt8], MQTTProtocolVersion, MQTTPacket)] {
        var connackV5Properties = MQTTProperties()
        connackV5Properties.maximumQoS = .atLeastOnce
        connackV5Properties.topicAliasMaximum = 10
        var authProperties = MQTTProperties()
        authProperties.authenticationMethod = "SCRAM"
        var disconnectProperties = MQTTProperties()
        disconnectProperties.reasonString = "bye"
        return [
            (connectV3, .v311, connectV3Packet()),
            (connectV5, .v5, connectV5Packet()),
            // CONNACK: session present, accepted (3.1.1 §3.2.2).
            ([0x20, 0x02, 0x01, 0x00], .v311, .connack(MQTTConnAck(sessionPresent: true))),
            // CONNACK return code 5, Not authorized.
            ([0x20, 0x02, 0x00, 0x05], .v311, .connack(MQTTConnAck(reasonCode: .notAuthorized))),
            // CONNACK 3.1.1 return code 1 maps to 0x84 Unsupported Protocol Version.
            ([0x20, 0x02, 0x00, 0x01], .v311, .connack(MQTTConnAck(reasonCode: .unsupportedProtocolVersion))),
            // MQTT 5 CONNACK, success, no properties.
            ([0x20, 0x03, 0x00, 0x00, 0x00], .v5, .connack(MQTTConnAck())),
            // MQTT 5 CONNACK with Maximum QoS 1 (0x24) and Topic Alias Maximum 10 (0x22).
            (
                [0x20, 0x08, 0x00, 0x00, 0x05, 0x22, 0x00, 0x0A, 0x24, 0x01], .v5,
                .connack(MQTTConnAck(properties: connackV5Properties))
            ),
            // PUBLISH QoS 1, topic "a/b", packet id 10, payload "hello".
            (
                [0x32, 0x0C, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x00, 0x0A, 0x68, 0x65, 0x6C, 0x6C, 0x6F], .v311,
                .publish(
                    MQTTPublish(
                        topic: "a/b", payload: ByteBuffer(string: "hello"), qos: .atLeastOnce,
                        packetIdentifier: 10))
            ),
            // PUBLISH QoS 0 retained; topic is the 3.1.1 §1.5.3 / 5.0 §1.5.4 example string "A𪛔".
            (
                [0x31, 0x08, 0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94, 0x21], .v311,
                .publish(MQTTPublish(topic: "A\u{2A6D4}", payload: ByteBuffer(bytes: [0x21]), retain: true))
            ),
            // MQTT 5 PUBLISH QoS 2 DUP with empty properties and empty payload.
            (
                [0x3C, 0x08, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x12, 0x34, 0x00], .v5,
                .publish(
                    MQTTPublish(
                        topic: "a/b", payload: ByteBuffer(), qos: .exactlyOnce, dup: true, packetIdentifier: 0x1234))
            ),
            ([0x40, 0x02, 0x00, 0x0A], .v311, .puback(MQTTPubAck(packetIdentifier: 10))),
            // MQTT 5 §3.4.2.1: reason code and property length may be omitted for Success.
            ([0x40, 0x02, 0x00, 0x0A], .v5, .puback(MQTTPubAck(packetIdentifier: 10))),
            // MQTT 5 PUBACK "No matching subscribers" without property length (remaining length 3).
            (
                [0x40, 0x03, 0x00, 0x0A, 0x10], .v5,
                .puback(MQTTPubAck(packetIdentifier: 10, reasonCode: .noMatchingSubscribers))
            ),
            ([0x50, 0x02, 0x00, 0x0B], .v311, .pubrec(MQTTPubAck(packetIdentifier: 11))),
            // PUBREL has fixed-header flags 0010.
            ([0x62, 0x02, 0x00, 0x0B], .v311, .pubrel(MQTTPubAck(packetIdentifier: 11))),
            (
                [0x62, 0x03, 0x00, 0x0B, 0x92], .v5,
                .pubrel(MQTTPubAck(packetIdentifier: 11, reasonCode: .packetIdentifierNotFound))
            ),
            ([0x70, 0x02, 0x00, 0x0B], .v311, .pubcomp(MQTTPubAck(packetIdentifier: 11))),
            // SUBSCRIBE (flags 0010) "a/b" QoS 1.
            (
                [0x82, 0x08, 0x00, 0x0A, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x01], .v311,
                .subscribe(
                    MQTTSubscribe(
                        packetIdentifier: 10,
                        subscriptions: [MQTTSubscription(topicFilter: "a/b", options: .init(qos: .atLeastOnce))]))
            ),
            // MQTT 5 SUBSCRIBE "a/+" with QoS 2, No Local, Retain As Published, Retain Handling 2: 0b10_1110.
            (
                [0x82, 0x09, 0x00, 0x0A, 0x00, 0x00, 0x03, 0x61, 0x2F, 0x2B, 0x2E], .v5,
                .subscribe(
                    MQTTSubscribe(
                        packetIdentifier: 10,
                        subscriptions: [
                            MQTTSubscription(
                                topicFilter: "a/+",
                                options: .init(
                                    qos: .exactlyOnce, noLocal: true, retainAsPublished: true,
                                    retainHandling: .doNotSend))
                        ]))
            ),
            // SUBACK: granted QoS 1 and Failure (0x80), 3.1.1 §3.9.3.
            (
                [0x90, 0x04, 0x00, 0x0A, 0x01, 0x80], .v311,
                .suback(MQTTSubAck(packetIdentifier: 10, reasonCodes: [.grantedQoS1, .unspecifiedError]))
            ),
            (
                [0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x9E], .v5,
                .suback(
                    MQTTSubAck(packetIdentifier: 10, reasonCodes: [.grantedQoS2, .sharedSubscriptionsNotSupported]))
            ),
            // UNSUBSCRIBE (flags 0010) "a/b".
            (
                [0xA2, 0x07, 0x00, 0x0A, 0x00, 0x03, 0x61, 0x2F, 0x62], .v311,
                .unsubscribe(MQTTUnsubscribe(packetIdentifier: 10, topicFilters: ["a/b"]))
            ),
            ([0xB0, 0x02, 0x00, 0x0A], .v311, .unsuback(MQTTUnsubAck(packetIdentifier: 10))),
            (
                [0xB0, 0x04, 0x00, 0x0A, 0x00, 0x11], .v5,
                .unsuback(MQTTUnsubAck(packetIdentifier: 10, reasonCodes: [.noSubscriptionExisted]))
            ),
            ([0xC0, 0x00], .v311, .pingreq),
            ([0xD0, 0x00], .v5, .pingresp),
            ([0xE0, 0x00], .v311, .disconnect(MQTTDisconnect())),
            ([0xE0, 0x00], .v5, .disconnect(MQTTDisconnect())),
            ([0xE0, 0x01, 0x8E], .v5, .disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver))),
            // DISCONNECT 0x81 with Reason String "bye".
            (
                [0xE0, 0x08, 0x81, 0x06, 0x1F, 0x00, 0x03, 0x62, 0x79, 0x65], .v5,
                .disconnect(MQTTDisconnect(reasonCode: .malformedPacket, properties: disconnectProperties))
            ),
            // MQTT 5 §3.15.2.1: AUTH success without properties has remaining length 0.
            ([0xF0, 0x00], .v5, .auth(MQTTAuth())),
            // AUTH Continue authentication (0x18) with Authentication Method "SCRAM".
            (
                [0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x05, 0x53, 0x43, 0x52, 0x41, 0x4D], .v5,
                .auth(MQTTAuth(reasonCode: .continueAuthentication, properties: authProperties))
            ),
        ]
    }

    @Test func decodesSpecVectors() throws {
        for (bytes, version, packet) in Self.vectors() {
            #expect(try decodeOne(bytes, version) == packet, "\(packet.type) \(version)")
        }
    }

    @Test func encodesSpecVectors() throws {
        for (bytes, version, packet) in Self.vectors() {
            #expect(try encoded(packet, version) == bytes, "\(packet.type) \(version)")
        }
    }

    /// Variable Byte Integer examples of MQTT 5 §1.5.5 (Table 1-1) used as Remaining Lengths of
    /// PUBLISH packets whose payload fills the body.
    @Test(arguments: [
        (127, [0x7F] as [UInt8]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
        (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]),
    ])
    func remainingLengthEncoding(length: Int, lengthBytes: [UInt8]) throws {
        let topicBytes = mqttString("t")
        let payload = [UInt8](repeating: 0x5A, count: length - topicBytes.count)
        let bytes = [0x30] + lengthBytes + topicBytes + payload
        let packet = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(bytes: payload)))
        #expect(try decodeOne(bytes, .v311) == packet)
        #expect(try encoded(packet, .v311) == bytes)
    }

    /// The largest Remaining Length, 268,435,455 = FF FF FF 7F, is accepted in the header (the body is
    /// then awaited), and one more byte of length makes it malformed.
    @Test func largestRemainingLengthHeader() throws {
        #expect(try decodeOne([0x30, 0xFF, 0xFF, 0xFF, 0x7F], .v5) == nil)
        expectDecodeError(.malformedPacket, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], .v5)
    }
}

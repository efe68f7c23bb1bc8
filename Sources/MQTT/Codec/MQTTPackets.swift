public import NIOCore

/// An MQTT control packet of version 3.1.1 or 5.0.
///
/// Encode with ``encode(into:version:maxPacketSize:)`` and decode with ``MQTTPacketDecoder``.
/// The same values describe both versions; fields that only exist in MQTT 5 (properties, most reason
/// codes, `AUTH`) must be left at their defaults when encoding for MQTT 3.1.1 and are defaults after
/// decoding MQTT 3.1.1.
public enum MQTTPacket: Hashable, Sendable {
    /// `CONNECT`: client request to connect.
    case connect(MQTTConnect)
    /// `CONNACK`: connect acknowledgment.
    case connack(MQTTConnAck)
    /// `PUBLISH`: an application message.
    case publish(MQTTPublish)
    /// `PUBACK`: QoS 1 publish acknowledgment.
    case puback(MQTTPubAck)
    /// `PUBREC`: QoS 2 publish received.
    case pubrec(MQTTPubAck)
    /// `PUBREL`: QoS 2 publish release.
    case pubrel(MQTTPubAck)
    /// `PUBCOMP`: QoS 2 publish complete.
    case pubcomp(MQTTPubAck)
    /// `SUBSCRIBE`: subscribe request.
    case subscribe(MQTTSubscribe)
    /// `SUBACK`: subscribe acknowledgment.
    case suback(MQTTSubAck)
    /// `UNSUBSCRIBE`: unsubscribe request.
    case unsubscribe(MQTTUnsubscribe)
    /// `UNSUBACK`: unsubscribe acknowledgment.
    case unsuback(MQTTUnsubAck)
    /// `PINGREQ`: keep-alive ping.
    case pingreq
    /// `PINGRESP`: keep-alive pong.
    case pingresp
    /// `DISCONNECT`: disconnect notification (with reason code and properties in MQTT 5).
    case disconnect(MQTTDisconnect)
    /// `AUTH`: enhanced authentication exchange (MQTT 5 only).
    case auth(MQTTAuth)

    /// The control packet type.
    public var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }
}

/// The Will message of a `CONNECT` packet.
public struct MQTTWill: Hashable, Sendable {
    /// The topic name the Will is published to (no wildcards).
    public var topic: String
    /// The Will payload (at most 65,535 bytes).
    public var payload: ByteBuffer
    /// The QoS of the Will message.
    public var qos: MQTTQoS
    /// Whether the Will message is retained.
    public var retain: Bool
    /// The Will Properties (MQTT 5 only).
    public var properties: MQTTProperties

    /// Creates a Will.
    public init(
        topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// A `CONNECT` packet. The protocol version is the one passed to encoding (and read from the packet
/// when decoding; see ``protocolVersion``).
public struct MQTTConnect: Hashable, Sendable {
    /// The protocol version named in the packet. Encoding writes the version it is given and ignores
    /// this field; decoding sets it from the Protocol Level byte.
    public var protocolVersion: MQTTProtocolVersion
    /// Clean Start (MQTT 5) or Clean Session (MQTT 3.1.1).
    public var cleanStart: Bool
    /// The Keep Alive interval in seconds; 0 disables it.
    public var keepAlive: UInt16
    /// The Client Identifier; may be empty.
    public var clientIdentifier: String
    /// The User Name.
    public var username: String?
    /// The Password. MQTT 3.1.1 requires a User Name when a Password is present.
    public var password: [UInt8]?
    /// The Will message.
    public var will: MQTTWill?
    /// The CONNECT properties (MQTT 5 only).
    public var properties: MQTTProperties

    /// Creates a `CONNECT` packet.
    public init(
        protocolVersion: MQTTProtocolVersion = .v5,
        cleanStart: Bool = true,
        keepAlive: UInt16 = 60,
        clientIdentifier: String,
        username: String? = nil,
        password: [UInt8]? = nil,
        will: MQTTWill? = nil,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.protocolVersion = protocolVersion
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.clientIdentifier = clientIdentifier
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }
}

/// A `CONNACK` packet.
///
/// MQTT 3.1.1 return codes 0-5 are represented by the MQTT 5 reason codes the MQTT 5 specification
/// maps them to: 0 ``MQTTReasonCode/success``, 1 ``MQTTReasonCode/unsupportedProtocolVersion``,
/// 2 ``MQTTReasonCode/clientIdentifierNotValid``, 3 ``MQTTReasonCode/serverUnavailable``,
/// 4 ``MQTTReasonCode/badUserNameOrPassword``, 5 ``MQTTReasonCode/notAuthorized``.
public struct MQTTConnAck: Hashable, Sendable {
    /// Whether the server resumed an existing session. Must be false when the reason code is a failure.
    public var sessionPresent: Bool
    /// The connect reason code (or mapped MQTT 3.1.1 return code).
    public var reasonCode: MQTTReasonCode
    /// The CONNACK properties (MQTT 5 only).
    public var properties: MQTTProperties

    /// Creates a `CONNACK` packet.
    public init(
        sessionPresent: Bool = false,
        reasonCode: MQTTReasonCode = .success,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// A `PUBLISH` packet.
public struct MQTTPublish: Hashable, Sendable {
    /// The topic name (no wildcards). May be empty only in MQTT 5 when a Topic Alias property is set.
    public var topic: String
    /// The application payload. After decoding it is a slice of the received buffer (no copy); the
    /// encoder writes its readable bytes.
    public var payload: ByteBuffer
    /// The QoS.
    public var qos: MQTTQoS
    /// The RETAIN flag.
    public var retain: Bool
    /// The DUP flag (a redelivery). Must be false for QoS 0.
    public var dup: Bool
    /// The Packet Identifier: non-zero for QoS 1 and 2, `nil` for QoS 0.
    public var packetIdentifier: UInt16?
    /// The PUBLISH properties (MQTT 5 only).
    public var properties: MQTTProperties

    /// Creates a `PUBLISH` packet.
    public init(
        topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        dup: Bool = false,
        packetIdentifier: UInt16? = nil,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetIdentifier = packetIdentifier
        self.properties = properties
    }
}

/// The body of `PUBACK`, `PUBREC`, `PUBREL` and `PUBCOMP`, which share one layout; the
/// ``MQTTPacket`` case says which packet it is.
///
/// MQTT 3.1.1 only carries the Packet Identifier: the reason code must be ``MQTTReasonCode/success``
/// and the properties empty. In MQTT 5 a success without properties is encoded in the short
/// two-byte form.
public struct MQTTPubAck: Hashable, Sendable {
    /// The Packet Identifier of the `PUBLISH` being acknowledged (non-zero).
    public var packetIdentifier: UInt16
    /// The reason code (MQTT 5).
    public var reasonCode: MQTTReasonCode
    /// The properties (MQTT 5).
    public var properties: MQTTProperties

    /// Creates an acknowledgment.
    public init(
        packetIdentifier: UInt16,
        reasonCode: MQTTReasonCode = .success,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// The Retain Handling subscription option (MQTT 5).
public enum MQTTRetainHandling: UInt8, Hashable, Sendable {
    /// `0`: send retained messages at the time of the subscribe.
    case sendOnSubscribe = 0
    /// `1`: send retained messages only if the subscription does not currently exist.
    case sendOnSubscribeIfNew = 1
    /// `2`: do not send retained messages at the time of the subscribe.
    case doNotSend = 2
}

/// Subscription options (MQTT 5 §3.8.3.1). MQTT 3.1.1 only has the maximum QoS; the other options
/// must keep their defaults there.
public struct MQTTSubscriptionOptions: Hashable, Sendable {
    /// The maximum QoS the server may use to send messages of this subscription.
    public var qos: MQTTQoS
    /// No Local: do not receive own publications (not allowed on shared subscriptions).
    public var noLocal: Bool
    /// Retain As Published: keep the RETAIN flag of forwarded messages.
    public var retainAsPublished: Bool
    /// When retained messages are sent.
    public var retainHandling: MQTTRetainHandling

    /// Creates subscription options.
    public init(
        qos: MQTTQoS = .atMostOnce,
        noLocal: Bool = false,
        retainAsPublished: Bool = false,
        retainHandling: MQTTRetainHandling = .sendOnSubscribe
    ) {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

/// One topic filter of a `SUBSCRIBE` packet with its options.
public struct MQTTSubscription: Hashable, Sendable {
    /// The topic filter; may use wildcards or `$share/{ShareName}/{filter}`.
    public var topicFilter: String
    /// The subscription options.
    public var options: MQTTSubscriptionOptions

    /// Creates a subscription.
    public init(topicFilter: String, options: MQTTSubscriptionOptions = MQTTSubscriptionOptions()) {
        self.topicFilter = topicFilter
        self.options = options
    }
}

/// A `SUBSCRIBE` packet.
public struct MQTTSubscribe: Hashable, Sendable {
    /// The Packet Identifier (non-zero).
    public var packetIdentifier: UInt16
    /// The subscriptions; at least one.
    public var subscriptions: [MQTTSubscription]
    /// The SUBSCRIBE properties (MQTT 5 only): at most one Subscription Identifier and User Properties.
    public var properties: MQTTProperties

    /// Creates a `SUBSCRIBE` packet.
    public init(
        packetIdentifier: UInt16,
        subscriptions: [MQTTSubscription],
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

/// A `SUBACK` packet.
public struct MQTTSubAck: Hashable, Sendable {
    /// The Packet Identifier of the `SUBSCRIBE` being acknowledged.
    public var packetIdentifier: UInt16
    /// One reason code per subscription, in order; at least one. MQTT 3.1.1 allows only granted QoS
    /// 0-2 and ``MQTTReasonCode/unspecifiedError`` (`0x80`, "Failure").
    public var reasonCodes: [MQTTReasonCode]
    /// The SUBACK properties (MQTT 5 only).
    public var properties: MQTTProperties

    /// Creates a `SUBACK` packet.
    public init(
        packetIdentifier: UInt16,
        reasonCodes: [MQTTReasonCode],
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// An `UNSUBSCRIBE` packet.
public struct MQTTUnsubscribe: Hashable, Sendable {
    /// The Packet Identifier (non-zero).
    public var packetIdentifier: UInt16
    /// The topic filters to remove; at least one.
    public var topicFilters: [String]
    /// The UNSUBSCRIBE properties (MQTT 5 only): User Properties.
    public var properties: MQTTProperties

    /// Creates an `UNSUBSCRIBE` packet.
    public init(packetIdentifier: UInt16, topicFilters: [String], properties: MQTTProperties = MQTTProperties()) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

/// An `UNSUBACK` packet.
public struct MQTTUnsubAck: Hashable, Sendable {
    /// The Packet Identifier of the `UNSUBSCRIBE` being acknowledged.
    public var packetIdentifier: UInt16
    /// One reason code per topic filter, in order (MQTT 5; at least one). Empty for MQTT 3.1.1.
    public var reasonCodes: [MQTTReasonCode]
    /// The UNSUBACK properties (MQTT 5 only).
    public var properties: MQTTProperties

    /// Creates an `UNSUBACK` packet.
    public init(
        packetIdentifier: UInt16,
        reasonCodes: [MQTTReasonCode] = [],
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// A `DISCONNECT` packet. MQTT 3.1.1 has no reason code or properties: they must keep their defaults.
public struct MQTTDisconnect: Hashable, Sendable {
    /// The disconnect reason code (MQTT 5).
    public var reasonCode: MQTTReasonCode
    /// The DISCONNECT properties (MQTT 5).
    public var properties: MQTTProperties

    /// Creates a `DISCONNECT` packet.
    public init(reasonCode: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// An `AUTH` packet (MQTT 5 only).
public struct MQTTAuth: Hashable, Sendable {
    /// The authenticate reason code: success, continue authentication or re-authenticate.
    public var reasonCode: MQTTReasonCode
    /// The AUTH properties: Authentication Method, Authentication Data, Reason String, User Properties.
    public var properties: MQTTProperties

    /// Creates an `AUTH` packet.
    public init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

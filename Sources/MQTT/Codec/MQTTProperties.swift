/// An MQTT 5 property identifier (MQTT 5 §2.2.2.2).
public struct MQTTPropertyIdentifier: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The identifier byte on the wire.
    public let rawValue: UInt8

    /// Creates an identifier from its byte.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// The identifier in hexadecimal.
    public var description: String { "0x" + String(self.rawValue, radix: 16, uppercase: true) }

    /// `0x01` Payload Format Indicator (Byte).
    public static let payloadFormatIndicator = Self(rawValue: 0x01)
    /// `0x02` Message Expiry Interval (Four Byte Integer).
    public static let messageExpiryInterval = Self(rawValue: 0x02)
    /// `0x03` Content Type (UTF-8 String).
    public static let contentType = Self(rawValue: 0x03)
    /// `0x08` Response Topic (UTF-8 String).
    public static let responseTopic = Self(rawValue: 0x08)
    /// `0x09` Correlation Data (Binary Data).
    public static let correlationData = Self(rawValue: 0x09)
    /// `0x0B` Subscription Identifier (Variable Byte Integer).
    public static let subscriptionIdentifier = Self(rawValue: 0x0B)
    /// `0x11` Session Expiry Interval (Four Byte Integer).
    public static let sessionExpiryInterval = Self(rawValue: 0x11)
    /// `0x12` Assigned Client Identifier (UTF-8 String).
    public static let assignedClientIdentifier = Self(rawValue: 0x12)
    /// `0x13` Server Keep Alive (Two Byte Integer).
    public static let serverKeepAlive = Self(rawValue: 0x13)
    /// `0x15` Authentication Method (UTF-8 String).
    public static let authenticationMethod = Self(rawValue: 0x15)
    /// `0x16` Authentication Data (Binary Data).
    public static let authenticationData = Self(rawValue: 0x16)
    /// `0x17` Request Problem Information (Byte).
    public static let requestProblemInformation = Self(rawValue: 0x17)
    /// `0x18` Will Delay Interval (Four Byte Integer).
    public static let willDelayInterval = Self(rawValue: 0x18)
    /// `0x19` Request Response Information (Byte).
    public static let requestResponseInformation = Self(rawValue: 0x19)
    /// `0x1A` Response Information (UTF-8 String).
    public static let responseInformation = Self(rawValue: 0x1A)
    /// `0x1C` Server Reference (UTF-8 String).
    public static let serverReference = Self(rawValue: 0x1C)
    /// `0x1F` Reason String (UTF-8 String).
    public static let reasonString = Self(rawValue: 0x1F)
    /// `0x21` Receive Maximum (Two Byte Integer).
    public static let receiveMaximum = Self(rawValue: 0x21)
    /// `0x22` Topic Alias Maximum (Two Byte Integer).
    public static let topicAliasMaximum = Self(rawValue: 0x22)
    /// `0x23` Topic Alias (Two Byte Integer).
    public static let topicAlias = Self(rawValue: 0x23)
    /// `0x24` Maximum QoS (Byte).
    public static let maximumQoS = Self(rawValue: 0x24)
    /// `0x25` Retain Available (Byte).
    public static let retainAvailable = Self(rawValue: 0x25)
    /// `0x26` User Property (UTF-8 String Pair).
    public static let userProperty = Self(rawValue: 0x26)
    /// `0x27` Maximum Packet Size (Four Byte Integer).
    public static let maximumPacketSize = Self(rawValue: 0x27)
    /// `0x28` Wildcard Subscription Available (Byte).
    public static let wildcardSubscriptionAvailable = Self(rawValue: 0x28)
    /// `0x29` Subscription Identifier Available (Byte).
    public static let subscriptionIdentifierAvailable = Self(rawValue: 0x29)
    /// `0x2A` Shared Subscription Available (Byte).
    public static let sharedSubscriptionAvailable = Self(rawValue: 0x2A)
}

/// The Payload Format Indicator property.
public enum MQTTPayloadFormat: UInt8, Hashable, Sendable {
    /// `0`: unspecified bytes.
    case unspecified = 0
    /// `1`: UTF-8 encoded character data.
    case utf8 = 1
}

/// A User Property: a name-value pair of UTF-8 strings. Names may repeat.
public struct MQTTUserProperty: Hashable, Sendable {
    /// The name.
    public var name: String
    /// The value.
    public var value: String

    /// Creates a user property.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The properties of an MQTT 5 packet or Will (MQTT 5 §2.2.2), typed.
///
/// A property that is `nil` (or an empty array) is absent. Each packet allows a subset
/// (MQTT 5 §2.2.2.2); encoding a property that its packet does not allow throws
/// ``MQTTError/Code/invalidArgument``, and decoding one throws ``MQTTError/Code/malformedPacket``.
/// Only User Property, and Subscription Identifier in `PUBLISH`, may appear more than once.
/// With MQTT 3.1.1 every packet's properties must be empty.
public struct MQTTProperties: Hashable, Sendable {
    /// The property values. Almost every packet has none, so they live in a shared box that is nil when empty:
    /// the struct is one reference wide, and copying a message or a packet (the client does, several times per
    /// message) retains one object instead of copying two hundred bytes and retaining a dozen fields.
    /// Copy-on-write: a mutation copies a box that another value shares.
    private var box: Box?

    /// Every property's storage (the struct's fields before they were boxed).
    fileprivate struct Values: Hashable, Sendable {
        var payloadFormatIndicator: MQTTPayloadFormat?
        var messageExpiryInterval: UInt32?
        var contentType: String?
        var responseTopic: String?
        var correlationData: [UInt8]?
        var subscriptionIdentifiers: [UInt32] = []
        var sessionExpiryInterval: UInt32?
        var assignedClientIdentifier: String?
        var serverKeepAlive: UInt16?
        var authenticationMethod: String?
        var authenticationData: [UInt8]?
        var requestProblemInformation: Bool?
        var willDelayInterval: UInt32?
        var requestResponseInformation: Bool?
        var responseInformation: String?
        var serverReference: String?
        var reasonString: String?
        var receiveMaximum: UInt16?
        var topicAliasMaximum: UInt16?
        var topicAlias: UInt16?
        var maximumQoS: MQTTQoS?
        var retainAvailable: Bool?
        var userProperties: [MQTTUserProperty] = []
        var maximumPacketSize: UInt32?
        var wildcardSubscriptionAvailable: Bool?
        var subscriptionIdentifierAvailable: Bool?
        var sharedSubscriptionAvailable: Bool?
    }

    /// The shared, copy-on-write storage; mutated only through ``mutate(_:)`` while uniquely referenced.
    fileprivate final class Box: @unchecked Sendable {
        var values: Values

        init(_ values: Values) {
            self.values = values
        }
    }

    private var values: Values { box?.values ?? Values() }

    private mutating func mutate(_ change: (inout Values) -> Void) {
        if box == nil {
            box = Box(Values())
        } else if !isKnownUniquelyReferenced(&box) {
            box = Box(box!.values)
        }
        change(&box!.values)
    }

    /// `0x01` Payload Format Indicator (PUBLISH, Will).
    public var payloadFormatIndicator: MQTTPayloadFormat? {
        get { box?.values.payloadFormatIndicator }
        set { mutate { $0.payloadFormatIndicator = newValue } }
    }
    /// `0x02` Message Expiry Interval in seconds (PUBLISH, Will).
    public var messageExpiryInterval: UInt32? {
        get { box?.values.messageExpiryInterval }
        set { mutate { $0.messageExpiryInterval = newValue } }
    }
    /// `0x03` Content Type (PUBLISH, Will).
    public var contentType: String? {
        get { box?.values.contentType }
        set { mutate { $0.contentType = newValue } }
    }
    /// `0x08` Response Topic, a topic name without wildcards (PUBLISH, Will).
    public var responseTopic: String? {
        get { box?.values.responseTopic }
        set { mutate { $0.responseTopic = newValue } }
    }
    /// `0x09` Correlation Data (PUBLISH, Will).
    public var correlationData: [UInt8]? {
        get { box?.values.correlationData }
        set { mutate { $0.correlationData = newValue } }
    }
    /// `0x0B` Subscription Identifiers, 1 to 268,435,455 (PUBLISH: any number; SUBSCRIBE: at most one).
    public var subscriptionIdentifiers: [UInt32] {
        get { box?.values.subscriptionIdentifiers ?? [] }
        set { mutate { $0.subscriptionIdentifiers = newValue } }
    }
    /// `0x11` Session Expiry Interval in seconds (CONNECT, CONNACK, DISCONNECT).
    public var sessionExpiryInterval: UInt32? {
        get { box?.values.sessionExpiryInterval }
        set { mutate { $0.sessionExpiryInterval = newValue } }
    }
    /// `0x12` Assigned Client Identifier (CONNACK).
    public var assignedClientIdentifier: String? {
        get { box?.values.assignedClientIdentifier }
        set { mutate { $0.assignedClientIdentifier = newValue } }
    }
    /// `0x13` Server Keep Alive in seconds (CONNACK).
    public var serverKeepAlive: UInt16? {
        get { box?.values.serverKeepAlive }
        set { mutate { $0.serverKeepAlive = newValue } }
    }
    /// `0x15` Authentication Method (CONNECT, CONNACK, AUTH).
    public var authenticationMethod: String? {
        get { box?.values.authenticationMethod }
        set { mutate { $0.authenticationMethod = newValue } }
    }
    /// `0x16` Authentication Data (CONNECT, CONNACK, AUTH).
    public var authenticationData: [UInt8]? {
        get { box?.values.authenticationData }
        set { mutate { $0.authenticationData = newValue } }
    }
    /// `0x17` Request Problem Information (CONNECT).
    public var requestProblemInformation: Bool? {
        get { box?.values.requestProblemInformation }
        set { mutate { $0.requestProblemInformation = newValue } }
    }
    /// `0x18` Will Delay Interval in seconds (Will).
    public var willDelayInterval: UInt32? {
        get { box?.values.willDelayInterval }
        set { mutate { $0.willDelayInterval = newValue } }
    }
    /// `0x19` Request Response Information (CONNECT).
    public var requestResponseInformation: Bool? {
        get { box?.values.requestResponseInformation }
        set { mutate { $0.requestResponseInformation = newValue } }
    }
    /// `0x1A` Response Information (CONNACK).
    public var responseInformation: String? {
        get { box?.values.responseInformation }
        set { mutate { $0.responseInformation = newValue } }
    }
    /// `0x1C` Server Reference (CONNACK, DISCONNECT).
    public var serverReference: String? {
        get { box?.values.serverReference }
        set { mutate { $0.serverReference = newValue } }
    }
    /// `0x1F` Reason String (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH).
    public var reasonString: String? {
        get { box?.values.reasonString }
        set { mutate { $0.reasonString = newValue } }
    }
    /// `0x21` Receive Maximum, not 0 (CONNECT, CONNACK).
    public var receiveMaximum: UInt16? {
        get { box?.values.receiveMaximum }
        set { mutate { $0.receiveMaximum = newValue } }
    }
    /// `0x22` Topic Alias Maximum (CONNECT, CONNACK).
    public var topicAliasMaximum: UInt16? {
        get { box?.values.topicAliasMaximum }
        set { mutate { $0.topicAliasMaximum = newValue } }
    }
    /// `0x23` Topic Alias, not 0 (PUBLISH).
    public var topicAlias: UInt16? {
        get { box?.values.topicAlias }
        set { mutate { $0.topicAlias = newValue } }
    }
    /// `0x24` Maximum QoS, 0 or 1 (CONNACK).
    public var maximumQoS: MQTTQoS? {
        get { box?.values.maximumQoS }
        set { mutate { $0.maximumQoS = newValue } }
    }
    /// `0x25` Retain Available (CONNACK).
    public var retainAvailable: Bool? {
        get { box?.values.retainAvailable }
        set { mutate { $0.retainAvailable = newValue } }
    }
    /// `0x26` User Properties, in order (every packet and the Will).
    public var userProperties: [MQTTUserProperty] {
        get { box?.values.userProperties ?? [] }
        set { mutate { $0.userProperties = newValue } }
    }
    /// `0x27` Maximum Packet Size, not 0 (CONNECT, CONNACK).
    public var maximumPacketSize: UInt32? {
        get { box?.values.maximumPacketSize }
        set { mutate { $0.maximumPacketSize = newValue } }
    }
    /// `0x28` Wildcard Subscription Available (CONNACK).
    public var wildcardSubscriptionAvailable: Bool? {
        get { box?.values.wildcardSubscriptionAvailable }
        set { mutate { $0.wildcardSubscriptionAvailable = newValue } }
    }
    /// `0x29` Subscription Identifier Available (CONNACK).
    public var subscriptionIdentifierAvailable: Bool? {
        get { box?.values.subscriptionIdentifierAvailable }
        set { mutate { $0.subscriptionIdentifierAvailable = newValue } }
    }
    /// `0x2A` Shared Subscription Available (CONNACK).
    public var sharedSubscriptionAvailable: Bool? {
        get { box?.values.sharedSubscriptionAvailable }
        set { mutate { $0.sharedSubscriptionAvailable = newValue } }
    }

    /// Creates an empty property set.
    public init() {}

    /// Whether no property is present.
    public var isEmpty: Bool {
        guard let box else { return true }
        return box.values == Values()
    }

    /// Whether both sets hold the same properties (a cleared set equals an empty one).
    public static func == (lhs: MQTTProperties, rhs: MQTTProperties) -> Bool {
        if lhs.box === rhs.box { return true }
        return lhs.values == rhs.values
    }

    /// Hashes the property values (consistent with `==`).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(values)
    }
}

/// Where a property set appears; decides which identifiers are allowed (MQTT 5 §2.2.2.2).
enum MQTTPropertyContext: Sendable {
    case connect, connack, publish, will, pubAck, subscribe, suback, unsubscribe, unsuback, disconnect, auth

    var name: String {
        switch self {
        case .connect: "CONNECT"
        case .connack: "CONNACK"
        case .publish: "PUBLISH"
        case .will: "Will"
        case .pubAck: "PUBACK/PUBREC/PUBREL/PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .suback: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsuback: "UNSUBACK"
        case .disconnect: "DISCONNECT"
        case .auth: "AUTH"
        }
    }

    /// Whether `identifier` may appear in this context.
    func allows(_ identifier: MQTTPropertyIdentifier) -> Bool {
        switch identifier {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            self == .publish || self == .will
        case .subscriptionIdentifier:
            self == .publish || self == .subscribe
        case .sessionExpiryInterval:
            self == .connect || self == .connack || self == .disconnect
        case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
            .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
            self == .connack
        case .authenticationMethod, .authenticationData:
            self == .connect || self == .connack || self == .auth
        case .requestProblemInformation, .requestResponseInformation:
            self == .connect
        case .willDelayInterval:
            self == .will
        case .serverReference:
            self == .connack || self == .disconnect
        case .reasonString:
            switch self {
            case .connack, .pubAck, .suback, .unsuback, .disconnect, .auth: true
            default: false
            }
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize:
            self == .connect || self == .connack
        case .topicAlias:
            self == .publish
        case .userProperty:
            true
        default:
            false
        }
    }
}

/// The MQTT protocol version, with the protocol level byte of `CONNECT` as raw value.
public enum MQTTProtocolVersion: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// MQTT 3.1.1 (protocol level 4).
    case v311 = 4
    /// MQTT 5.0 (protocol level 5).
    case v5 = 5

    /// `"3.1.1"` or `"5.0"`.
    public var description: String {
        switch self {
        case .v311: "3.1.1"
        case .v5: "5.0"
        }
    }
}

/// The quality of service of a message.
public enum MQTTQoS: UInt8, Hashable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// At most once.
    case atMostOnce = 0
    /// At least once.
    case atLeastOnce = 1
    /// Exactly once.
    case exactlyOnce = 2

    /// Orders by the numeric level.
    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// `"QoS 0"`, `"QoS 1"` or `"QoS 2"`.
    public var description: String { "QoS \(self.rawValue)" }
}

/// The control packet type, the high nibble of the first byte of every packet.
public enum MQTTPacketType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Client request to connect.
    case connect = 1
    /// Connect acknowledgment.
    case connack = 2
    /// Publish message.
    case publish = 3
    /// Publish acknowledgment (QoS 1).
    case puback = 4
    /// Publish received (QoS 2, part 1).
    case pubrec = 5
    /// Publish release (QoS 2, part 2).
    case pubrel = 6
    /// Publish complete (QoS 2, part 3).
    case pubcomp = 7
    /// Subscribe request.
    case subscribe = 8
    /// Subscribe acknowledgment.
    case suback = 9
    /// Unsubscribe request.
    case unsubscribe = 10
    /// Unsubscribe acknowledgment.
    case unsuback = 11
    /// Ping request.
    case pingreq = 12
    /// Ping response.
    case pingresp = 13
    /// Disconnect notification.
    case disconnect = 14
    /// Authentication exchange (MQTT 5 only).
    case auth = 15

    /// The upper-case packet name, for example `"PUBLISH"`.
    public var description: String {
        switch self {
        case .connect: "CONNECT"
        case .connack: "CONNACK"
        case .publish: "PUBLISH"
        case .puback: "PUBACK"
        case .pubrec: "PUBREC"
        case .pubrel: "PUBREL"
        case .pubcomp: "PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .suback: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsuback: "UNSUBACK"
        case .pingreq: "PINGREQ"
        case .pingresp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        case .auth: "AUTH"
        }
    }

    /// The fixed-header flags every packet of this type must carry (all types but `PUBLISH`, whose
    /// flags carry DUP, QoS and RETAIN).
    var requiredFlags: UInt8 {
        switch self {
        case .pubrel, .subscribe, .unsubscribe: 0b0010
        default: 0
        }
    }
}

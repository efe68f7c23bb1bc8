/// An MQTT 5 reason code (MQTT 5 §2.4), also used for MQTT 3.1.1 CONNACK return codes and SUBACK
/// return codes, which map onto the same values.
///
/// A struct with static constants rather than an enum, so new codes can be added without breaking
/// callers. Values at or above `0x80` are failures.
public struct MQTTReasonCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The byte on the wire.
    public let rawValue: UInt8

    /// Creates a reason code from its byte.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Whether the code reports a failure (`0x80` or above).
    public var isFailure: Bool { self.rawValue >= 0x80 }

    /// The name from the MQTT 5 specification, or `"unknown"`.
    public var name: String {
        Self.names[self.rawValue] ?? "unknown"
    }

    /// The name and the hexadecimal value, for example `"Malformed Packet (0x81)"`.
    public var description: String {
        let hex = String(self.rawValue, radix: 16, uppercase: true)
        return "\(self.name) (0x\(hex.count < 2 ? "0" + hex : hex))"
    }

    /// `0x00` Success (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH).
    public static let success = MQTTReasonCode(rawValue: 0x00)
    /// `0x00` Normal disconnection (DISCONNECT).
    public static let normalDisconnection = MQTTReasonCode(rawValue: 0x00)
    /// `0x00` Granted QoS 0 (SUBACK).
    public static let grantedQoS0 = MQTTReasonCode(rawValue: 0x00)
    /// `0x01` Granted QoS 1 (SUBACK).
    public static let grantedQoS1 = MQTTReasonCode(rawValue: 0x01)
    /// `0x02` Granted QoS 2 (SUBACK).
    public static let grantedQoS2 = MQTTReasonCode(rawValue: 0x02)
    /// `0x04` Disconnect with Will Message (DISCONNECT).
    public static let disconnectWithWillMessage = MQTTReasonCode(rawValue: 0x04)
    /// `0x10` No matching subscribers (PUBACK, PUBREC).
    public static let noMatchingSubscribers = MQTTReasonCode(rawValue: 0x10)
    /// `0x11` No subscription existed (UNSUBACK).
    public static let noSubscriptionExisted = MQTTReasonCode(rawValue: 0x11)
    /// `0x18` Continue authentication (AUTH).
    public static let continueAuthentication = MQTTReasonCode(rawValue: 0x18)
    /// `0x19` Re-authenticate (AUTH).
    public static let reAuthenticate = MQTTReasonCode(rawValue: 0x19)
    /// `0x80` Unspecified error.
    public static let unspecifiedError = MQTTReasonCode(rawValue: 0x80)
    /// `0x81` Malformed Packet.
    public static let malformedPacket = MQTTReasonCode(rawValue: 0x81)
    /// `0x82` Protocol Error.
    public static let protocolError = MQTTReasonCode(rawValue: 0x82)
    /// `0x83` Implementation specific error.
    public static let implementationSpecificError = MQTTReasonCode(rawValue: 0x83)
    /// `0x84` Unsupported Protocol Version (CONNACK).
    public static let unsupportedProtocolVersion = MQTTReasonCode(rawValue: 0x84)
    /// `0x85` Client Identifier not valid (CONNACK).
    public static let clientIdentifierNotValid = MQTTReasonCode(rawValue: 0x85)
    /// `0x86` Bad User Name or Password (CONNACK).
    public static let badUserNameOrPassword = MQTTReasonCode(rawValue: 0x86)
    /// `0x87` Not authorized.
    public static let notAuthorized = MQTTReasonCode(rawValue: 0x87)
    /// `0x88` Server unavailable (CONNACK).
    public static let serverUnavailable = MQTTReasonCode(rawValue: 0x88)
    /// `0x89` Server busy.
    public static let serverBusy = MQTTReasonCode(rawValue: 0x89)
    /// `0x8A` Banned (CONNACK).
    public static let banned = MQTTReasonCode(rawValue: 0x8A)
    /// `0x8B` Server shutting down (DISCONNECT).
    public static let serverShuttingDown = MQTTReasonCode(rawValue: 0x8B)
    /// `0x8C` Bad authentication method.
    public static let badAuthenticationMethod = MQTTReasonCode(rawValue: 0x8C)
    /// `0x8D` Keep Alive timeout (DISCONNECT).
    public static let keepAliveTimeout = MQTTReasonCode(rawValue: 0x8D)
    /// `0x8E` Session taken over (DISCONNECT).
    public static let sessionTakenOver = MQTTReasonCode(rawValue: 0x8E)
    /// `0x8F` Topic Filter invalid.
    public static let topicFilterInvalid = MQTTReasonCode(rawValue: 0x8F)
    /// `0x90` Topic Name invalid.
    public static let topicNameInvalid = MQTTReasonCode(rawValue: 0x90)
    /// `0x91` Packet Identifier in use.
    public static let packetIdentifierInUse = MQTTReasonCode(rawValue: 0x91)
    /// `0x92` Packet Identifier not found.
    public static let packetIdentifierNotFound = MQTTReasonCode(rawValue: 0x92)
    /// `0x93` Receive Maximum exceeded (DISCONNECT).
    public static let receiveMaximumExceeded = MQTTReasonCode(rawValue: 0x93)
    /// `0x94` Topic Alias invalid (DISCONNECT).
    public static let topicAliasInvalid = MQTTReasonCode(rawValue: 0x94)
    /// `0x95` Packet too large.
    public static let packetTooLarge = MQTTReasonCode(rawValue: 0x95)
    /// `0x96` Message rate too high (DISCONNECT).
    public static let messageRateTooHigh = MQTTReasonCode(rawValue: 0x96)
    /// `0x97` Quota exceeded.
    public static let quotaExceeded = MQTTReasonCode(rawValue: 0x97)
    /// `0x98` Administrative action (DISCONNECT).
    public static let administrativeAction = MQTTReasonCode(rawValue: 0x98)
    /// `0x99` Payload format invalid.
    public static let payloadFormatInvalid = MQTTReasonCode(rawValue: 0x99)
    /// `0x9A` Retain not supported.
    public static let retainNotSupported = MQTTReasonCode(rawValue: 0x9A)
    /// `0x9B` QoS not supported.
    public static let qosNotSupported = MQTTReasonCode(rawValue: 0x9B)
    /// `0x9C` Use another server.
    public static let useAnotherServer = MQTTReasonCode(rawValue: 0x9C)
    /// `0x9D` Server moved.
    public static let serverMoved = MQTTReasonCode(rawValue: 0x9D)
    /// `0x9E` Shared Subscriptions not supported.
    public static let sharedSubscriptionsNotSupported = MQTTReasonCode(rawValue: 0x9E)
    /// `0x9F` Connection rate exceeded.
    public static let connectionRateExceeded = MQTTReasonCode(rawValue: 0x9F)
    /// `0xA0` Maximum connect time (DISCONNECT).
    public static let maximumConnectTime = MQTTReasonCode(rawValue: 0xA0)
    /// `0xA1` Subscription Identifiers not supported.
    public static let subscriptionIdentifiersNotSupported = MQTTReasonCode(rawValue: 0xA1)
    /// `0xA2` Wildcard Subscriptions not supported.
    public static let wildcardSubscriptionsNotSupported = MQTTReasonCode(rawValue: 0xA2)

    private static let names: [UInt8: String] = [
        0x00: "Success", 0x01: "Granted QoS 1", 0x02: "Granted QoS 2", 0x04: "Disconnect with Will Message",
        0x10: "No matching subscribers", 0x11: "No subscription existed", 0x18: "Continue authentication",
        0x19: "Re-authenticate", 0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
        0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
        0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password", 0x87: "Not authorized",
        0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned", 0x8B: "Server shutting down",
        0x8C: "Bad authentication method", 0x8D: "Keep Alive timeout", 0x8E: "Session taken over",
        0x8F: "Topic Filter invalid", 0x90: "Topic Name invalid", 0x91: "Packet Identifier in use",
        0x92: "Packet Identifier not found", 0x93: "Receive Maximum exceeded", 0x94: "Topic Alias invalid",
        0x95: "Packet too large", 0x96: "Message rate too high", 0x97: "Quota exceeded",
        0x98: "Administrative action", 0x99: "Payload format invalid", 0x9A: "Retain not supported",
        0x9B: "QoS not supported", 0x9C: "Use another server", 0x9D: "Server moved",
        0x9E: "Shared Subscriptions not supported", 0x9F: "Connection rate exceeded", 0xA0: "Maximum connect time",
        0xA1: "Subscription Identifiers not supported", 0xA2: "Wildcard Subscriptions not supported",
    ]

    // MARK: Reason codes allowed per packet (MQTT 5 §3.x.2.1)

    static let allowedInConnAck: Set<UInt8> = [
        0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99,
        0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
    ]
    static let allowedInPubAckOrPubRec: Set<UInt8> = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
    static let allowedInPubRelOrPubComp: Set<UInt8> = [0x00, 0x92]
    static let allowedInSubAck: Set<UInt8> = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
    static let allowedInSubAckV3: Set<UInt8> = [0x00, 0x01, 0x02, 0x80]
    static let allowedInUnsubAck: Set<UInt8> = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
    static let allowedInDisconnect: Set<UInt8> = [
        0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96,
        0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
    ]
    static let allowedInAuth: Set<UInt8> = [0x00, 0x18, 0x19]

    /// MQTT 3.1.1 CONNACK return codes 0-5 and the MQTT 5 reason codes they correspond to.
    static let v3ConnectReturnCodes: [MQTTReasonCode] = [
        .success, .unsupportedProtocolVersion, .clientIdentifierNotValid, .serverUnavailable,
        .badUserNameOrPassword, .notAuthorized,
    ]
}

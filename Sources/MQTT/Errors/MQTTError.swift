/// An error raised by the MQTT module.
///
/// The error has an extensible ``Code`` that callers match on, the MQTT 5 ``reasonCode`` that a
/// connection should send in a `DISCONNECT` (or `CONNACK`) when the error ends it, and a private
/// diagnostic reason that is only visible through ``description`` (for logs).
///
/// Two errors compare equal when their code and reason code are equal; the diagnostic reason is
/// deliberately not part of the identity, so tests and callers never depend on its wording.
public struct MQTTError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure. New codes are added as static constants, so switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code.
        public let name: String

        /// Creates a code. Codes are defined as static constants inside the MQTT module.
        init(name: String) {
            self.name = name
        }

        /// The name of the code.
        public var description: String { self.name }

        /// A packet violates the MQTT encoding rules (bad lengths, reserved bits, invalid UTF-8,
        /// truncated or trailing data, unknown property). MQTT 5 reason code `0x81`.
        public static let malformedPacket = Code(name: "malformedPacket")

        /// A packet is well formed but breaks a protocol rule (duplicate property, property value out
        /// of range, packet not allowed in this version). MQTT 5 reason code `0x82`.
        public static let protocolError = Code(name: "protocolError")

        /// A packet is larger than the maximum packet size of its receiver. MQTT 5 reason code `0x95`.
        public static let packetTooLarge = Code(name: "packetTooLarge")

        /// A topic name or topic filter is invalid (empty, too long, NUL, invalid UTF-8, misplaced
        /// wildcard, bad shared subscription). MQTT 5 reason code `0x90` (names) or `0x8F` (filters).
        public static let invalidTopic = Code(name: "invalidTopic")

        /// A packet built by the application cannot be encoded: a field is out of range, a property is
        /// not allowed in that packet, or a feature is not available in the negotiated protocol version.
        /// Raised only by encoding, before anything is written.
        public static let invalidArgument = Code(name: "invalidArgument")

        /// A `CONNECT` packet names a protocol (name or level) this codec does not implement.
        /// MQTT 5 reason code `0x84`.
        public static let unsupportedProtocolVersion = Code(name: "unsupportedProtocolVersion")
    }

    /// What went wrong.
    public let code: Code

    /// The MQTT 5 reason code to send to the peer when this error ends the connection.
    public let reasonCode: MQTTReasonCode

    /// A diagnostic text for logs. Not part of the error's identity.
    private let reason: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - reasonCode: The MQTT 5 reason code to send to the peer.
    ///   - reason: A diagnostic text for logs.
    init(_ code: Code, reasonCode: MQTTReasonCode, _ reason: String) {
        self.code = code
        self.reasonCode = reasonCode
        self.reason = reason
    }

    /// The code, the reason code and the diagnostic reason.
    public var description: String {
        "MQTTError.\(self.code) (reason code \(self.reasonCode)): \(self.reason)"
    }

    /// Compares code and reason code; the diagnostic reason is ignored.
    public static func == (lhs: MQTTError, rhs: MQTTError) -> Bool {
        lhs.code == rhs.code && lhs.reasonCode == rhs.reasonCode
    }

    /// Hashes code and reason code; the diagnostic reason is ignored.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.reasonCode)
    }

    static func malformed(_ reason: String) -> MQTTError {
        MQTTError(.malformedPacket, reasonCode: .malformedPacket, reason)
    }

    static func protocolError(_ reason: String) -> MQTTError {
        MQTTError(.protocolError, reasonCode: .protocolError, reason)
    }

    static func tooLarge(_ reason: String) -> MQTTError {
        MQTTError(.packetTooLarge, reasonCode: .packetTooLarge, reason)
    }

    static func invalidTopicName(_ reason: String) -> MQTTError {
        MQTTError(.invalidTopic, reasonCode: .topicNameInvalid, reason)
    }

    static func invalidTopicFilter(_ reason: String) -> MQTTError {
        MQTTError(.invalidTopic, reasonCode: .topicFilterInvalid, reason)
    }

    static func invalidArgument(_ reason: String) -> MQTTError {
        MQTTError(.invalidArgument, reasonCode: .implementationSpecificError, reason)
    }
}

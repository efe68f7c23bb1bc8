public import MQTT
public import Seal
public import SealKeyring

/// The error thrown by the SealedMQTT module.
///
/// Branch on ``code`` (stable and extensible: switch with a `default`). The underlying error of the layer that
/// failed is kept in ``keyringError``, ``sealError`` or ``mqttError`` for logs and for callers that need the detail;
/// ``description`` is one line for a human.
///
/// Received messages never throw: a rejected envelope is counted and reported as a ``SealedRejection``, never as
/// an error of the stream.
public struct SealedMQTTError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of a SealedMQTT error. Extensible: new codes may be added, so switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) { self.name = name }

        /// Nothing can seal on this topic: no primary key matches it, the primary expired, no signing identity
        /// exists where one is required, or the payload, topic or context exceeds the envelope limits.
        /// ``SealedMQTTError/keyringError`` or ``SealedMQTTError/sealError`` tells which.
        public static let sealingFailed = Code("sealingFailed")
        /// The operation is not allowed by the ``SealedPolicy`` of the topic, for example a plaintext publish on a
        /// topic that did not opt in, or a primary key whose suite the topic does not allow.
        public static let policyViolation = Code("policyViolation")
        /// A ``SealedPolicy`` or ``SealedTopicPolicy`` is malformed or contradictory (bad topic filter,
        /// plaintext together with a required signature, signing required but disabled).
        public static let invalidPolicy = Code("invalidPolicy")
        /// The MQTT client failed (not connected, broker refused, timeout, invalid topic);
        /// ``SealedMQTTError/mqttError`` holds its error.
        public static let transport = Code("transport")
        /// The sealed client was shut down.
        public static let shutDown = Code("shutDown")

        /// The code's stable name, for example `sealingFailed`.
        public var description: String { name }
    }

    /// The class of the error.
    public let code: Code
    /// One line for a human that says what is wrong. Never contains secret material.
    public let message: String
    /// The keyring error behind a ``Code/sealingFailed``, if any.
    public let keyringError: KeyringError?
    /// The envelope error behind a ``Code/sealingFailed``, if any.
    public let sealError: SealError?
    /// The MQTT error behind a ``Code/transport``, if any.
    public let mqttError: MQTTError?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the class.
    ///   - message: one line of text (newlines are replaced by spaces).
    ///   - keyringError: the underlying keyring error.
    ///   - sealError: the underlying envelope error.
    ///   - mqttError: the underlying MQTT error.
    public init(
        _ code: Code, _ message: String, keyringError: KeyringError? = nil, sealError: SealError? = nil,
        mqttError: MQTTError? = nil
    ) {
        self.code = code
        self.message = String(message.map { $0.isNewline ? " " : $0 })
        self.keyringError = keyringError
        self.sealError = sealError
        self.mqttError = mqttError
    }

    /// Wraps whatever the MQTT client threw.
    static func transport(_ error: any Error, _ what: String) -> SealedMQTTError {
        if let error = error as? SealedMQTTError { return error }
        if let mqtt = error as? MQTTError {
            if mqtt.code == .clientShutDown {
                return SealedMQTTError(.shutDown, "\(what): the client was shut down", mqttError: mqtt)
            }
            return SealedMQTTError(.transport, "\(what): \(mqtt)", mqttError: mqtt)
        }
        return SealedMQTTError(.transport, "\(what): \(error)")
    }

    /// `SealedMQTTError(code: message)`.
    public var description: String { "SealedMQTTError(\(code): \(message))" }

    /// Two errors are equal when their codes and underlying errors are equal (the message is not compared).
    public static func == (lhs: SealedMQTTError, rhs: SealedMQTTError) -> Bool {
        lhs.code == rhs.code && lhs.keyringError?.code == rhs.keyringError?.code && lhs.sealError == rhs.sealError
            && lhs.mqttError == rhs.mqttError
    }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

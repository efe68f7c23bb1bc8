extension MQTTError.Code {
    /// The broker refused the connection; ``MQTTError/reasonCode`` is the CONNACK reason
    /// (for example ``MQTTReasonCode/notAuthorized`` or ``MQTTReasonCode/badUserNameOrPassword``).
    public static let connectionRefused = MQTTError.Code(name: "connectionRefused")
    /// The connection could not be made or broke (TCP error, EOF, keepalive timeout, broker DISCONNECT).
    public static let connectionClosed = MQTTError.Code(name: "connectionClosed")
    /// The TLS handshake failed (untrusted certificate, wrong host name, missing client certificate).
    public static let tlsFailure = MQTTError.Code(name: "tlsFailure")
    /// The operation needs a connection and the client has none (QoS 0 publish while disconnected).
    public static let notConnected = MQTTError.Code(name: "notConnected")
    /// The broker refused a subscription in the SUBACK; ``MQTTError/reasonCode`` is the failure code.
    public static let subscriptionFailed = MQTTError.Code(name: "subscriptionFailed")
    /// The broker refused an unsubscription in the UNSUBACK.
    public static let unsubscriptionFailed = MQTTError.Code(name: "unsubscriptionFailed")
    /// The broker answered a QoS 1/2 PUBLISH with a failure reason code (PUBACK or PUBREC).
    public static let publishFailed = MQTTError.Code(name: "publishFailed")
    /// The broker answered a QoS 2 PUBLISH with PUBACK: it took the message at QoS 1 at most (RabbitMQ
    /// downgrades QoS 2 this way). The message may have been delivered, possibly more than once.
    public static let qosDowngraded = MQTTError.Code(name: "qosDowngraded")
    /// A bounded wait (CONNACK, SUBACK, ...) timed out.
    public static let timeout = MQTTError.Code(name: "timeout")
    /// Automatic reconnection gave up after the configured number of attempts.
    public static let reconnectLimitReached = MQTTError.Code(name: "reconnectLimitReached")
    /// The client was shut down (``MQTTClient/disconnect(reason:properties:)``) while the operation waited.
    public static let clientShutDown = MQTTError.Code(name: "clientShutDown")
    /// The broker sent a packet that breaks the protocol or a malformed one; the client answered
    /// with DISCONNECT (MQTT 5) and closed the connection.
    public static let brokerProtocolViolation = MQTTError.Code(name: "brokerProtocolViolation")
}

extension MQTTError {
    static func client(_ code: Code, _ reasonCode: MQTTReasonCode = .unspecifiedError, _ reason: String) -> MQTTError {
        MQTTError(code, reasonCode: reasonCode, reason)
    }
}

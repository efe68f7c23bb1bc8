import MQTT

/// How `pub` and `sub` word what went wrong with the broker: one plain line each, with the exit code that fits
/// (77 for refused credentials or authorisation, 74 for the network and TLS, 64 for a bad topic), never a Swift type
/// name or an errno dump.
extension BrokerOptions {
    /// `text` in quotes for a message, cut to its first 64 characters (a 70,000-byte topic is not echoed back).
    static func quoted(_ text: String) -> String {
        let limit = 64
        guard text.count > limit else { return "'\(text)'" }
        return "'\(text.prefix(limit))…' (\(text.utf8.count) bytes)"
    }

    /// The diagnostic part of an error, on one line.
    static func detail(_ error: any Error) -> String {
        var text = "\(error)"
        if let mqtt = error as? MQTTError {
            // "MQTTError.code (reason code x): reason" -> "reason"
            let prefix = "MQTTError.\(mqtt.code) (reason code \(mqtt.reasonCode)): "
            if text.hasPrefix(prefix) { text = String(text.dropFirst(prefix.count)) }
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// Maps a failed connect: refused credentials are 77, everything else (unreachable, TLS, timeout) 74.
    static func connectFailure(
        _ error: any Error, endpoint: String, version: MQTTProtocolVersion = .v311
    ) -> CLIFailure {
        guard let error = error as? MQTTError else {
            return CLIFailure(.ioError, "cannot connect to \(endpoint): \(detail(error))")
        }
        switch error.code {
        case .connectionRefused:
            if [.badUserNameOrPassword, .notAuthorized, .banned, .badAuthenticationMethod].contains(error.reasonCode) {
                return CLIFailure(.permission, "the broker at \(endpoint) refused the connection: \(error.reasonCode)")
            }
            return CLIFailure(.ioError, "the broker at \(endpoint) refused the connection: \(error.reasonCode)")
        case .tlsFailure:
            return CLIFailure(.ioError, "TLS with \(endpoint) failed: \(detail(error))")
        case .timeout:
            return CLIFailure(.ioError, "cannot connect to \(endpoint): no answer in time")
        default:
            var reason = detail(error)
            if reason.contains("Connection refused") {
                reason = "connection refused"
            } else if reason.hasPrefix("cannot connect to \(endpoint): ") {
                reason.removeFirst("cannot connect to \(endpoint): ".count)
            }
            // A broker without MQTT 5 (RabbitMQ 3.10) closes the connection on an MQTT 5 CONNECT without a CONNACK.
            let hint =
                version == .v5 && reason == "the broker closed the connection"
                ? " before CONNACK (it may not support MQTT 5: try -V 311)" : ""
            return CLIFailure(.ioError, "cannot connect to \(endpoint): \(reason)\(hint)")
        }
    }

    /// Maps a failure after the connection was made (SUBACK, PUBACK, lost connection).
    static func brokerFailure(
        _ error: any Error, doing action: String, endpoint: String, version: MQTTProtocolVersion
    ) -> CLIFailure {
        if let failure = error as? CLIFailure { return failure }
        guard let error = error as? MQTTError else {
            return CLIFailure(.ioError, "\(action): \(detail(error))")
        }
        switch error.code {
        case .subscriptionFailed, .publishFailed:
            if error.reasonCode == .notAuthorized {
                return CLIFailure(.permission, "\(action): the broker at \(endpoint) says not authorised")
            }
            if error.code == .subscriptionFailed && version == .v311 {
                // MQTT 3.1.1 has one SUBACK failure code (0x80) and no reason; brokers use it to deny access.
                return CLIFailure(.permission, "\(action): the broker at \(endpoint) refused the subscription")
            }
            return CLIFailure(.ioError, "\(action): the broker at \(endpoint) refused: \(error.reasonCode)")
        case .invalidTopic:
            return CLIFailure(.usage, "\(action): \(detail(error))")
        case .packetTooLarge:
            return CLIFailure(.dataError, "\(action): the message is larger than the broker accepts")
        case .qosDowngraded:
            return CLIFailure(
                .protocolFailure,
                "\(action): the broker at \(endpoint) answered a QoS 2 publish with PUBACK: it took the message at "
                    + "QoS 1 at most (try -q 1)")
        case .invalidArgument:
            return CLIFailure(.usage, "\(action): \(detail(error))")
        case .sessionStoreFailed:
            return CLIFailure(.ioError, "\(action): the session store refused it: \(detail(error))")
        default:
            return CLIFailure(.ioError, "\(action): connection to \(endpoint) lost: \(detail(error))")
        }
    }
}

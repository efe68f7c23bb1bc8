import ArgumentParser
import MQTT

/// `-D COMMAND IDENTIFIER VALUE`: MQTT 5 properties, as `mosquitto_pub -D` / `mosquitto_sub -D` take them.
///
/// Properties travel outside the envelope: nothing in them is encrypted or authenticated. `user-property` takes two
/// values (name and value). Repeat `-D` for several.
struct PropertyOptions: ParsableArguments {
    @Option(
        name: .customShort("D"), parsing: .upToNextOption,
        help: ArgumentHelp(
            "An MQTT 5 property: -D COMMAND IDENTIFIER VALUE (user-property takes NAME VALUE); repeat for several.",
            discussion:
                "COMMAND is connect, publish (pub), subscribe or unsubscribe (sub), or will; IDENTIFIER is "
                + "mosquitto's name (content-type, correlation-data, message-expiry-interval, "
                + "payload-format-indicator, response-topic, user-property, receive-maximum, maximum-packet-size, "
                + "topic-alias-maximum, request-problem-information, request-response-information, "
                + "session-expiry-interval, subscription-identifier, will-delay-interval). Needs -V 5.",
            valueName: "command identifier value"))
    var property: [String] = []

    /// The properties for each packet.
    struct Properties: Sendable {
        var connect = MQTTProperties()
        var publish = MQTTProperties()
        var subscribe = MQTTProperties()
        var unsubscribe = MQTTProperties()
        var will = MQTTProperties()
        /// CONNECT values kept in the client configuration.
        var sessionExpiry: UInt32?
        var receiveMaximum: UInt16?
        var maximumPacketSize: UInt32?
        var topicAliasMaximum: UInt16?
    }

    enum Command: String, CaseIterable {
        case connect, publish, subscribe, unsubscribe, will, disconnect, auth

        /// Where this command's properties go (disconnect and auth are refused before this is asked).
        var packet: WritableKeyPath<Properties, MQTTProperties> {
            switch self {
            case .connect: return \.connect
            case .publish: return \.publish
            case .subscribe: return \.subscribe
            case .unsubscribe: return \.unsubscribe
            case .will, .disconnect, .auth: return \.will
            }
        }
    }

    /// Which commands each identifier may go with, as MQTT 5 §3 lists them (client to broker).
    static let allowed: [String: Set<Command>] = [
        "payload-format-indicator": [.publish, .will], "message-expiry-interval": [.publish, .will],
        "content-type": [.publish, .will], "response-topic": [.publish, .will],
        "correlation-data": [.publish, .will], "subscription-identifier": [.subscribe],
        "session-expiry-interval": [.connect], "request-problem-information": [.connect],
        "request-response-information": [.connect], "receive-maximum": [.connect],
        "topic-alias-maximum": [.connect], "maximum-packet-size": [.connect],
        "will-delay-interval": [.will],
        "user-property": [.connect, .publish, .subscribe, .unsubscribe, .will],
    ]

    /// Checks and groups the `-D` values. `commands` are the ones this command sends (pub: publish; sub:
    /// subscribe and unsubscribe; both: connect and will).
    func properties(version: MQTTProtocolVersion, commands: Set<Command>) throws(CLIFailure) -> Properties {
        var result = Properties()
        guard !property.isEmpty else { return result }
        guard version == .v5 else { throw CLIFailure(.usage, "-D needs MQTT 5 (-V 5): MQTT 3.1.1 has no properties") }
        var tokens = property[...]
        func take(_ what: String) throws(CLIFailure) -> String {
            guard let token = tokens.popFirst() else { throw CLIFailure(.usage, "-D: \(what) is missing") }
            return token
        }
        while !tokens.isEmpty {
            let commandText = try take("the command")
            guard let command = Command(rawValue: commandText) else {
                throw CLIFailure(
                    .usage,
                    "-D \(BrokerOptions.quoted(commandText)): the command must be connect, publish, subscribe, "
                        + "unsubscribe or will")
            }
            if command == .disconnect || command == .auth {
                throw CLIFailure(
                    .usage, "-D \(command.rawValue): properties on \(command.rawValue.uppercased()) are not supported")
            }
            guard commands.contains(command) else {
                throw CLIFailure(
                    .usage, "-D \(command.rawValue): this command sends no \(command.rawValue.uppercased())")
            }
            let name = try take("the identifier after -D \(command.rawValue)")
            guard let places = Self.allowed[name] else {
                if name == "topic-alias" {
                    throw CLIFailure(.usage, "-D publish topic-alias: the client chooses topic aliases itself")
                }
                if name == "authentication-method" || name == "authentication-data" {
                    throw CLIFailure(.usage, "-D connect \(name): enhanced authentication (AUTH) is not supported")
                }
                throw CLIFailure(.usage, "-D \(command.rawValue) \(BrokerOptions.quoted(name)): unknown property")
            }
            guard places.contains(command) else {
                throw CLIFailure(
                    .usage, "-D \(command.rawValue) \(name): not allowed on \(command.rawValue.uppercased())")
            }
            let value = try take("the value of \(name)")
            let slot = command.packet
            var target = result[keyPath: slot]
            let flag = "-D \(command.rawValue) \(name)"
            switch name {
            case "payload-format-indicator":
                let byte = try BrokerOptions.integer(value, flag: flag, in: 0...1)
                target.payloadFormatIndicator = byte == 1 ? .utf8 : .unspecified
            case "message-expiry-interval":
                target.messageExpiryInterval = UInt32(
                    try BrokerOptions.integer(value, flag: flag, in: 0...Int(UInt32.max)))
            case "content-type": target.contentType = value
            case "response-topic":
                do {
                    try MQTTTopic.validateName(value)
                } catch {
                    throw CLIFailure(.usage, "\(flag): \(BrokerOptions.detail(error))")
                }
                target.responseTopic = value
            case "correlation-data": target.correlationData = Array(value.utf8)
            case "subscription-identifier":
                target.subscriptionIdentifiers = [
                    UInt32(try BrokerOptions.integer(value, flag: flag, in: 1...268_435_455))
                ]
            case "session-expiry-interval":
                result.sessionExpiry = UInt32(try BrokerOptions.integer(value, flag: flag, in: 0...Int(UInt32.max)))
            case "request-problem-information":
                target.requestProblemInformation = try BrokerOptions.integer(value, flag: flag, in: 0...1) == 1
            case "request-response-information":
                target.requestResponseInformation = try BrokerOptions.integer(value, flag: flag, in: 0...1) == 1
            case "receive-maximum":
                result.receiveMaximum = UInt16(try BrokerOptions.integer(value, flag: flag, in: 1...65_535))
            case "topic-alias-maximum":
                result.topicAliasMaximum = UInt16(try BrokerOptions.integer(value, flag: flag, in: 0...65_535))
            case "maximum-packet-size":
                result.maximumPacketSize = UInt32(
                    try BrokerOptions.integer(value, flag: flag, in: 64...MQTTPacket.maximumPacketSize))
            case "will-delay-interval":
                target.willDelayInterval = UInt32(try BrokerOptions.integer(value, flag: flag, in: 0...Int(UInt32.max)))
            default:  // user-property
                let propertyValue = try take("the value of user-property \(value)")
                target.userProperties.append(MQTTUserProperty(name: value, value: propertyValue))
            }
            result[keyPath: slot] = target
        }
        return result
    }
}

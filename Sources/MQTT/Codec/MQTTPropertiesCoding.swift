import NIOCore

extension MQTTProperties {
    // MARK: Decoding

    /// Reads a Property Length and the properties it covers, for the packet or Will `context`.
    ///
    /// Unknown identifiers and identifiers not allowed in `context` are malformed; a repeated
    /// identifier (other than User Property, or Subscription Identifier in `PUBLISH`) and values out of
    /// range are protocol errors.
    static func decode(
        from buffer: inout ByteBuffer,
        context: MQTTPropertyContext
    ) throws(MQTTError) -> MQTTProperties {
        let length = try buffer.readMQTTVariableByteInteger()
        guard var slice = buffer.readSlice(length: length) else {
            throw MQTTError.malformed("property length \(length) exceeds the packet")
        }
        var properties = MQTTProperties()
        var seen: UInt64 = 0
        while slice.readableBytes > 0 {
            let rawIdentifier = try slice.readMQTTVariableByteInteger()
            guard let byte = UInt8(exactly: rawIdentifier) else {
                throw MQTTError.malformed("unknown property identifier \(rawIdentifier)")
            }
            let identifier = MQTTPropertyIdentifier(rawValue: byte)
            guard context.allows(identifier) else {
                throw MQTTError.malformed("property \(identifier) is unknown or not allowed in \(context.name)")
            }
            let repeatable =
                identifier == .userProperty || (identifier == .subscriptionIdentifier && context == .publish)
            if !repeatable {
                // All allowed identifiers are below 64 (checked by `allows`).
                let bit: UInt64 = 1 << UInt64(byte)
                guard seen & bit == 0 else {
                    throw MQTTError.protocolError("property \(identifier) appears more than once")
                }
                seen |= bit
            }
            try properties.decodeValue(of: identifier, from: &slice)
        }
        return properties
    }

    private static func readBool(
        _ buffer: inout ByteBuffer,
        _ identifier: MQTTPropertyIdentifier
    ) throws(MQTTError) -> Bool {
        switch try buffer.readMQTTByte() {
        case 0: return false
        case 1: return true
        default: throw MQTTError.protocolError("property \(identifier) is neither 0 nor 1")
        }
    }

    private static func readNonZero(
        _ buffer: inout ByteBuffer,
        _ identifier: MQTTPropertyIdentifier
    ) throws(MQTTError) -> UInt16 {
        let value = try buffer.readMQTTUInt16()
        guard value != 0 else {
            throw MQTTError.protocolError("property \(identifier) is 0")
        }
        return value
    }

    private mutating func decodeValue(
        of identifier: MQTTPropertyIdentifier,
        from buffer: inout ByteBuffer
    ) throws(MQTTError) {
        switch identifier {
        case .payloadFormatIndicator:
            guard let format = MQTTPayloadFormat(rawValue: try buffer.readMQTTByte()) else {
                throw MQTTError.protocolError("Payload Format Indicator is neither 0 nor 1")
            }
            self.payloadFormatIndicator = format
        case .messageExpiryInterval:
            self.messageExpiryInterval = try buffer.readMQTTUInt32()
        case .contentType:
            self.contentType = try buffer.readMQTTString()
        case .responseTopic:
            let topic = try buffer.readMQTTString()
            try MQTTTopic.validateName(topic)
            self.responseTopic = topic
        case .correlationData:
            self.correlationData = try buffer.readMQTTBinary()
        case .subscriptionIdentifier:
            let value = try buffer.readMQTTVariableByteInteger()
            guard value != 0 else {
                throw MQTTError.protocolError("Subscription Identifier is 0")
            }
            self.subscriptionIdentifiers.append(UInt32(value))
        case .sessionExpiryInterval:
            self.sessionExpiryInterval = try buffer.readMQTTUInt32()
        case .assignedClientIdentifier:
            self.assignedClientIdentifier = try buffer.readMQTTString()
        case .serverKeepAlive:
            self.serverKeepAlive = try buffer.readMQTTUInt16()
        case .authenticationMethod:
            self.authenticationMethod = try buffer.readMQTTString()
        case .authenticationData:
            self.authenticationData = try buffer.readMQTTBinary()
        case .requestProblemInformation:
            self.requestProblemInformation = try Self.readBool(&buffer, identifier)
        case .willDelayInterval:
            self.willDelayInterval = try buffer.readMQTTUInt32()
        case .requestResponseInformation:
            self.requestResponseInformation = try Self.readBool(&buffer, identifier)
        case .responseInformation:
            self.responseInformation = try buffer.readMQTTString()
        case .serverReference:
            self.serverReference = try buffer.readMQTTString()
        case .reasonString:
            self.reasonString = try buffer.readMQTTString()
        case .receiveMaximum:
            self.receiveMaximum = try Self.readNonZero(&buffer, identifier)
        case .topicAliasMaximum:
            self.topicAliasMaximum = try buffer.readMQTTUInt16()
        case .topicAlias:
            self.topicAlias = try Self.readNonZero(&buffer, identifier)
        case .maximumQoS:
            self.maximumQoS = try Self.readBool(&buffer, identifier) ? .atLeastOnce : .atMostOnce
        case .retainAvailable:
            self.retainAvailable = try Self.readBool(&buffer, identifier)
        case .userProperty:
            let name = try buffer.readMQTTString()
            let value = try buffer.readMQTTString()
            self.userProperties.append(MQTTUserProperty(name: name, value: value))
        case .maximumPacketSize:
            let value = try buffer.readMQTTUInt32()
            guard value != 0 else {
                throw MQTTError.protocolError("Maximum Packet Size is 0")
            }
            self.maximumPacketSize = value
        case .wildcardSubscriptionAvailable:
            self.wildcardSubscriptionAvailable = try Self.readBool(&buffer, identifier)
        case .subscriptionIdentifierAvailable:
            self.subscriptionIdentifierAvailable = try Self.readBool(&buffer, identifier)
        case .sharedSubscriptionAvailable:
            self.sharedSubscriptionAvailable = try Self.readBool(&buffer, identifier)
        default:
            throw MQTTError.malformed("unknown property identifier \(identifier)")
        }
    }

    // MARK: Encoding

    /// Writes the Property Length and the properties, in identifier order, for `context`.
    ///
    /// Throws ``MQTTError/Code/invalidArgument`` for a property not allowed in `context`, a repeated
    /// Subscription Identifier outside `PUBLISH`, or a value out of range, before anything is written
    /// (the caller rolls the buffer back on any error).
    func encode(into buffer: inout ByteBuffer, context: MQTTPropertyContext) throws(MQTTError) {
        try buffer.writeMQTTVariableLengthPrefixed(tooLarge: MQTTError.tooLarge("properties too long")) {
            (buffer: inout ByteBuffer) throws(MQTTError) in
            try self.encodeBody(into: &buffer, context: context)
        }
    }

    private func encodeBody(into buffer: inout ByteBuffer, context: MQTTPropertyContext) throws(MQTTError) {
        func id(_ identifier: MQTTPropertyIdentifier) throws(MQTTError) {
            guard context.allows(identifier) else {
                throw MQTTError.invalidArgument("property \(identifier) is not allowed in \(context.name)")
            }
            buffer.writeInteger(identifier.rawValue)
        }
        func bool(_ value: Bool) {
            buffer.writeInteger(value ? UInt8(1) : 0)
        }
        if let value = self.payloadFormatIndicator {
            try id(.payloadFormatIndicator)
            buffer.writeInteger(value.rawValue)
        }
        if let value = self.messageExpiryInterval {
            try id(.messageExpiryInterval)
            buffer.writeInteger(value)
        }
        if let value = self.contentType {
            try id(.contentType)
            try buffer.writeMQTTString(value, field: "Content Type")
        }
        if let value = self.responseTopic {
            try MQTTTopic.validateName(value)
            try id(.responseTopic)
            try buffer.writeMQTTString(value, field: "Response Topic")
        }
        if let value = self.correlationData {
            try id(.correlationData)
            try buffer.writeMQTTBinary(value, field: "Correlation Data")
        }
        if self.subscriptionIdentifiers.count > 1 && context != .publish {
            throw MQTTError.invalidArgument("more than one Subscription Identifier in \(context.name)")
        }
        for value in self.subscriptionIdentifiers {
            guard value != 0, value <= MQTTWire.maxVariableByteInteger else {
                throw MQTTError.invalidArgument("Subscription Identifier \(value) is outside 1...268435455")
            }
            try id(.subscriptionIdentifier)
            buffer.writeMQTTVariableByteInteger(Int(value))
        }
        if let value = self.sessionExpiryInterval {
            try id(.sessionExpiryInterval)
            buffer.writeInteger(value)
        }
        if let value = self.assignedClientIdentifier {
            try id(.assignedClientIdentifier)
            try buffer.writeMQTTString(value, field: "Assigned Client Identifier")
        }
        if let value = self.serverKeepAlive {
            try id(.serverKeepAlive)
            buffer.writeInteger(value)
        }
        if let value = self.authenticationMethod {
            try id(.authenticationMethod)
            try buffer.writeMQTTString(value, field: "Authentication Method")
        }
        if let value = self.authenticationData {
            try id(.authenticationData)
            try buffer.writeMQTTBinary(value, field: "Authentication Data")
        }
        if let value = self.requestProblemInformation {
            try id(.requestProblemInformation)
            bool(value)
        }
        if let value = self.willDelayInterval {
            try id(.willDelayInterval)
            buffer.writeInteger(value)
        }
        if let value = self.requestResponseInformation {
            try id(.requestResponseInformation)
            bool(value)
        }
        if let value = self.responseInformation {
            try id(.responseInformation)
            try buffer.writeMQTTString(value, field: "Response Information")
        }
        if let value = self.serverReference {
            try id(.serverReference)
            try buffer.writeMQTTString(value, field: "Server Reference")
        }
        if let value = self.reasonString {
            try id(.reasonString)
            try buffer.writeMQTTString(value, field: "Reason String")
        }
        if let value = self.receiveMaximum {
            guard value != 0 else { throw MQTTError.invalidArgument("Receive Maximum is 0") }
            try id(.receiveMaximum)
            buffer.writeInteger(value)
        }
        if let value = self.topicAliasMaximum {
            try id(.topicAliasMaximum)
            buffer.writeInteger(value)
        }
        if let value = self.topicAlias {
            guard value != 0 else { throw MQTTError.invalidArgument("Topic Alias is 0") }
            try id(.topicAlias)
            buffer.writeInteger(value)
        }
        if let value = self.maximumQoS {
            guard value != .exactlyOnce else {
                throw MQTTError.invalidArgument("Maximum QoS is 2 (send it absent instead)")
            }
            try id(.maximumQoS)
            buffer.writeInteger(value.rawValue)
        }
        if let value = self.retainAvailable {
            try id(.retainAvailable)
            bool(value)
        }
        for property in self.userProperties {
            try id(.userProperty)
            try buffer.writeMQTTString(property.name, field: "User Property name")
            try buffer.writeMQTTString(property.value, field: "User Property value")
        }
        if let value = self.maximumPacketSize {
            guard value != 0 else { throw MQTTError.invalidArgument("Maximum Packet Size is 0") }
            try id(.maximumPacketSize)
            buffer.writeInteger(value)
        }
        if let value = self.wildcardSubscriptionAvailable {
            try id(.wildcardSubscriptionAvailable)
            bool(value)
        }
        if let value = self.subscriptionIdentifierAvailable {
            try id(.subscriptionIdentifierAvailable)
            bool(value)
        }
        if let value = self.sharedSubscriptionAvailable {
            try id(.sharedSubscriptionAvailable)
            bool(value)
        }
    }
}

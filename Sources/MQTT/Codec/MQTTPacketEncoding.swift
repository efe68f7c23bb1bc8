public import NIOCore

extension MQTTPacket {
    /// The largest packet MQTT can express: 1 type byte, 4 Remaining Length bytes and
    /// 268,435,455 bytes of body (268,435,460 bytes).
    public static let maximumPacketSize = MQTTWire.maxPacketSize

    /// Encodes the packet for `version` and appends it to `buffer`.
    ///
    /// Everything is checked before the packet counts as written: topic names (no wildcards, not
    /// empty unless a Topic Alias is set in MQTT 5, at most 65,535 bytes, no U+0000), topic filters
    /// (wildcard placement, shared subscription syntax), field ranges, properties allowed in the
    /// packet, fields that do not exist in MQTT 3.1.1, and the total size against `maxPacketSize`
    /// (the peer's Maximum Packet Size). On error the buffer is left exactly as it was.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    ///   - version: The negotiated protocol version.
    ///   - maxPacketSize: The largest packet, in bytes including the fixed header, the peer accepts.
    /// - Throws: ``MQTTError`` with code ``MQTTError/Code/invalidTopic``,
    ///   ``MQTTError/Code/packetTooLarge`` or ``MQTTError/Code/invalidArgument``.
    public func encode(
        into buffer: inout ByteBuffer,
        version: MQTTProtocolVersion,
        maxPacketSize: Int = MQTTPacket.maximumPacketSize
    ) throws(MQTTError) {
        let start = buffer.writerIndex
        do throws(MQTTError) {
            if case .publish(let publish) = self, publish.payload.readableBytes > maxPacketSize {
                throw MQTTError.tooLarge("PUBLISH payload exceeds the maximum packet size \(maxPacketSize)")
            }
            buffer.writeInteger(self.type.rawValue << 4 | self.fixedHeaderFlags)
            try buffer.writeMQTTVariableLengthPrefixed(
                tooLarge: MQTTError.tooLarge("packet body exceeds 268435455 bytes")
            ) { (body: inout ByteBuffer) throws(MQTTError) in
                try self.encodeBody(into: &body, version: version)
            }
            let size = buffer.writerIndex - start
            guard size <= maxPacketSize else {
                throw MQTTError.tooLarge(
                    "\(self.type) of \(size) bytes exceeds the maximum packet size \(maxPacketSize)")
            }
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }

    private var fixedHeaderFlags: UInt8 {
        if case .publish(let publish) = self {
            return (publish.dup ? 0b1000 : 0) | publish.qos.rawValue << 1 | (publish.retain ? 1 : 0)
        }
        return self.type.requiredFlags
    }

    private func encodeBody(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        switch self {
        case .connect(let connect):
            try connect.encode(into: &buffer, version: version)
        case .connack(let connack):
            try connack.encode(into: &buffer, version: version)
        case .publish(let publish):
            try publish.encode(into: &buffer, version: version)
        case .puback(let ack):
            try ack.encode(into: &buffer, version: version, allowed: MQTTReasonCode.allowedInPubAckOrPubRec)
        case .pubrec(let ack):
            try ack.encode(into: &buffer, version: version, allowed: MQTTReasonCode.allowedInPubAckOrPubRec)
        case .pubrel(let ack):
            try ack.encode(into: &buffer, version: version, allowed: MQTTReasonCode.allowedInPubRelOrPubComp)
        case .pubcomp(let ack):
            try ack.encode(into: &buffer, version: version, allowed: MQTTReasonCode.allowedInPubRelOrPubComp)
        case .subscribe(let subscribe):
            try subscribe.encode(into: &buffer, version: version)
        case .suback(let suback):
            try suback.encode(into: &buffer, version: version)
        case .unsubscribe(let unsubscribe):
            try unsubscribe.encode(into: &buffer, version: version)
        case .unsuback(let unsuback):
            try unsuback.encode(into: &buffer, version: version)
        case .pingreq, .pingresp:
            break
        case .disconnect(let disconnect):
            try disconnect.encode(into: &buffer, version: version)
        case .auth(let auth):
            try auth.encode(into: &buffer, version: version)
        }
    }
}

// MARK: - Shared checks

private func requireNoProperties(
    _ properties: MQTTProperties,
    _ version: MQTTProtocolVersion,
    _ what: String
) throws(MQTTError) {
    if version == .v311 && !properties.isEmpty {
        throw MQTTError.invalidArgument("\(what) properties require MQTT 5")
    }
}

private func requirePacketIdentifier(_ identifier: UInt16, _ what: String) throws(MQTTError) {
    if identifier == 0 {
        throw MQTTError.invalidArgument("\(what) Packet Identifier is 0")
    }
}

private func requireReasonCode(_ code: MQTTReasonCode, in allowed: Set<UInt8>, _ what: String) throws(MQTTError) {
    guard allowed.contains(code.rawValue) else {
        throw MQTTError.invalidArgument("reason code \(code) is not allowed in \(what)")
    }
}

// MARK: - Per packet

extension MQTTConnect {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        try requireNoProperties(self.properties, version, "CONNECT")
        if version == .v311 && self.password != nil && self.username == nil {
            throw MQTTError.invalidArgument("MQTT 3.1.1 requires a User Name when a Password is present")
        }
        var flags: UInt8 = self.cleanStart ? 0b10 : 0
        if let will = self.will {
            try requireNoProperties(will.properties, version, "Will")
            try MQTTTopic.validateName(will.topic)
            guard will.payload.readableBytes <= MQTTWire.maxFieldLength else {
                throw MQTTError.invalidArgument("Will payload is longer than 65535 bytes")
            }
            flags |= 0b100 | will.qos.rawValue << 3 | (will.retain ? 0b10_0000 : 0)
        }
        if self.password != nil { flags |= 0b100_0000 }
        if self.username != nil { flags |= 0b1000_0000 }

        try buffer.writeMQTTString("MQTT", field: "Protocol Name")
        buffer.writeInteger(version.rawValue)
        buffer.writeInteger(flags)
        buffer.writeInteger(self.keepAlive)
        if version == .v5 {
            try self.properties.encode(into: &buffer, context: .connect)
        }
        try buffer.writeMQTTString(self.clientIdentifier, field: "Client Identifier")
        if let will = self.will {
            if version == .v5 {
                try will.properties.encode(into: &buffer, context: .will)
            }
            try buffer.writeMQTTString(will.topic, field: "Will Topic")
            try buffer.writeMQTTBinary(will.payload.readableBytesView, field: "Will Payload")
        }
        if let username = self.username {
            try buffer.writeMQTTString(username, field: "User Name")
        }
        if let password = self.password {
            try buffer.writeMQTTBinary(password, field: "Password")
        }
    }
}

extension MQTTConnAck {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        if self.sessionPresent && self.reasonCode.isFailure {
            throw MQTTError.invalidArgument("CONNACK with a failure reason code must not set Session Present")
        }
        buffer.writeInteger(self.sessionPresent ? UInt8(1) : 0)
        switch version {
        case .v311:
            try requireNoProperties(self.properties, version, "CONNACK")
            guard let returnCode = MQTTReasonCode.v3ConnectReturnCodes.firstIndex(of: self.reasonCode) else {
                throw MQTTError.invalidArgument("reason code \(self.reasonCode) has no MQTT 3.1.1 return code")
            }
            buffer.writeInteger(UInt8(returnCode))
        case .v5:
            try requireReasonCode(self.reasonCode, in: MQTTReasonCode.allowedInConnAck, "CONNACK")
            buffer.writeInteger(self.reasonCode.rawValue)
            try self.properties.encode(into: &buffer, context: .connack)
        }
    }
}

extension MQTTPublish {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        try requireNoProperties(self.properties, version, "PUBLISH")
        try MQTTTopic.validateName(self.topic, allowEmpty: version == .v5 && self.properties.topicAlias != nil)
        try buffer.writeMQTTString(self.topic, field: "Topic Name")
        switch (self.qos, self.packetIdentifier) {
        case (.atMostOnce, nil):
            if self.dup {
                throw MQTTError.invalidArgument("DUP set on a QoS 0 PUBLISH")
            }
        case (.atMostOnce, .some):
            throw MQTTError.invalidArgument("QoS 0 PUBLISH with a Packet Identifier")
        case (_, nil):
            throw MQTTError.invalidArgument("QoS \(self.qos.rawValue) PUBLISH without a Packet Identifier")
        case (_, .some(let identifier)):
            try requirePacketIdentifier(identifier, "PUBLISH")
            buffer.writeInteger(identifier)
        }
        if version == .v5 {
            try self.properties.encode(into: &buffer, context: .publish)
        }
        buffer.writeImmutableBuffer(self.payload)
    }
}

extension MQTTPubAck {
    fileprivate func encode(
        into buffer: inout ByteBuffer,
        version: MQTTProtocolVersion,
        allowed: Set<UInt8>
    ) throws(MQTTError) {
        try requirePacketIdentifier(self.packetIdentifier, "acknowledgment")
        buffer.writeInteger(self.packetIdentifier)
        switch version {
        case .v311:
            try requireNoProperties(self.properties, version, "acknowledgment")
            if self.reasonCode != .success {
                throw MQTTError.invalidArgument("MQTT 3.1.1 acknowledgments have no reason code")
            }
        case .v5:
            try requireReasonCode(self.reasonCode, in: allowed, "this acknowledgment")
            if self.properties.isEmpty {
                if self.reasonCode != .success {
                    buffer.writeInteger(self.reasonCode.rawValue)
                }
            } else {
                buffer.writeInteger(self.reasonCode.rawValue)
                try self.properties.encode(into: &buffer, context: .pubAck)
            }
        }
    }
}

extension MQTTSubscriptionOptions {
    fileprivate func encoded(version: MQTTProtocolVersion, shared: Bool) throws(MQTTError) -> UInt8 {
        switch version {
        case .v311:
            guard !self.noLocal, !self.retainAsPublished, self.retainHandling == .sendOnSubscribe else {
                throw MQTTError.invalidArgument("MQTT 3.1.1 subscriptions only have a QoS option")
            }
            return self.qos.rawValue
        case .v5:
            if self.noLocal && shared {
                throw MQTTError.invalidArgument("No Local on a shared subscription")
            }
            return self.qos.rawValue | (self.noLocal ? 0b100 : 0) | (self.retainAsPublished ? 0b1000 : 0)
                | self.retainHandling.rawValue << 4
        }
    }
}

extension MQTTSubscribe {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        try requirePacketIdentifier(self.packetIdentifier, "SUBSCRIBE")
        try requireNoProperties(self.properties, version, "SUBSCRIBE")
        guard !self.subscriptions.isEmpty else {
            throw MQTTError.invalidArgument("SUBSCRIBE without a topic filter")
        }
        buffer.writeInteger(self.packetIdentifier)
        if version == .v5 {
            try self.properties.encode(into: &buffer, context: .subscribe)
        }
        for subscription in self.subscriptions {
            try MQTTTopic.validateFilter(subscription.topicFilter)
            let shared = subscription.topicFilter.hasPrefix(MQTTTopic.sharedSubscriptionPrefix)
            let options = try subscription.options.encoded(version: version, shared: shared)
            try buffer.writeMQTTString(subscription.topicFilter, field: "Topic Filter")
            buffer.writeInteger(options)
        }
    }
}

extension MQTTSubAck {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        try requirePacketIdentifier(self.packetIdentifier, "SUBACK")
        try requireNoProperties(self.properties, version, "SUBACK")
        guard !self.reasonCodes.isEmpty else {
            throw MQTTError.invalidArgument("SUBACK without a reason code")
        }
        let allowed = version == .v5 ? MQTTReasonCode.allowedInSubAck : MQTTReasonCode.allowedInSubAckV3
        buffer.writeInteger(self.packetIdentifier)
        if version == .v5 {
            try self.properties.encode(into: &buffer, context: .suback)
        }
        for code in self.reasonCodes {
            try requireReasonCode(code, in: allowed, "SUBACK")
            buffer.writeInteger(code.rawValue)
        }
    }
}

extension MQTTUnsubscribe {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        try requirePacketIdentifier(self.packetIdentifier, "UNSUBSCRIBE")
        try requireNoProperties(self.properties, version, "UNSUBSCRIBE")
        guard !self.topicFilters.isEmpty else {
            throw MQTTError.invalidArgument("UNSUBSCRIBE without a topic filter")
        }
        buffer.writeInteger(self.packetIdentifier)
        if version == .v5 {
            try self.properties.encode(into: &buffer, context: .unsubscribe)
        }
        for filter in self.topicFilters {
            try MQTTTopic.validateFilter(filter)
            try buffer.writeMQTTString(filter, field: "Topic Filter")
        }
    }
}

extension MQTTUnsubAck {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        try requirePacketIdentifier(self.packetIdentifier, "UNSUBACK")
        buffer.writeInteger(self.packetIdentifier)
        switch version {
        case .v311:
            try requireNoProperties(self.properties, version, "UNSUBACK")
            guard self.reasonCodes.isEmpty else {
                throw MQTTError.invalidArgument("MQTT 3.1.1 UNSUBACK has no reason codes")
            }
        case .v5:
            guard !self.reasonCodes.isEmpty else {
                throw MQTTError.invalidArgument("MQTT 5 UNSUBACK without a reason code")
            }
            try self.properties.encode(into: &buffer, context: .unsuback)
            for code in self.reasonCodes {
                try requireReasonCode(code, in: MQTTReasonCode.allowedInUnsubAck, "UNSUBACK")
                buffer.writeInteger(code.rawValue)
            }
        }
    }
}

extension MQTTDisconnect {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        switch version {
        case .v311:
            try requireNoProperties(self.properties, version, "DISCONNECT")
            if self.reasonCode != .normalDisconnection {
                throw MQTTError.invalidArgument("MQTT 3.1.1 DISCONNECT has no reason code")
            }
        case .v5:
            try requireReasonCode(self.reasonCode, in: MQTTReasonCode.allowedInDisconnect, "DISCONNECT")
            if self.properties.isEmpty {
                if self.reasonCode != .normalDisconnection {
                    buffer.writeInteger(self.reasonCode.rawValue)
                }
            } else {
                buffer.writeInteger(self.reasonCode.rawValue)
                try self.properties.encode(into: &buffer, context: .disconnect)
            }
        }
    }
}

extension MQTTAuth {
    fileprivate func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTError) {
        guard version == .v5 else {
            throw MQTTError.invalidArgument("AUTH requires MQTT 5")
        }
        try requireReasonCode(self.reasonCode, in: MQTTReasonCode.allowedInAuth, "AUTH")
        if self.reasonCode == .success && self.properties.isEmpty {
            return
        }
        guard self.properties.authenticationMethod != nil else {
            throw MQTTError.invalidArgument("AUTH with a reason code or properties needs an Authentication Method")
        }
        buffer.writeInteger(self.reasonCode.rawValue)
        try self.properties.encode(into: &buffer, context: .auth)
    }
}

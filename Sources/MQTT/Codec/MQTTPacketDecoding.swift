public import NIOCore

extension MQTTPacket {
    /// Decodes one packet from the front of `buffer` if it is complete.
    ///
    /// Returns `nil`, consuming nothing, while the packet is incomplete. The fixed header is checked
    /// as soon as its bytes arrive: packet type (0 is reserved; 15 `AUTH` needs MQTT 5), reserved flag
    /// bits, QoS 3, the Remaining Length encoding (at most 4 bytes, minimal) and the total size against
    /// `maxPacketSize`, all before the body is buffered. The body is then parsed with a length check
    /// before every read, and bytes left over inside the packet are rejected.
    ///
    /// - Parameters:
    ///   - buffer: Received bytes; on success the reader index moves past the packet.
    ///   - version: The negotiated protocol version (a `CONNECT` is decoded with the version it names).
    ///   - maxPacketSize: The largest packet, in bytes including the fixed header, this side accepts.
    /// - Returns: The packet, or `nil` if more bytes are needed.
    /// - Throws: ``MQTTError`` (``MQTTError/Code/malformedPacket``, ``MQTTError/Code/protocolError``,
    ///   ``MQTTError/Code/packetTooLarge``, ``MQTTError/Code/invalidTopic``,
    ///   ``MQTTError/Code/unsupportedProtocolVersion``); its ``MQTTError/reasonCode`` is what to send
    ///   in the `DISCONNECT` that ends the connection.
    public static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion,
        maxPacketSize: Int = MQTTPacket.maximumPacketSize
    ) throws(MQTTError) -> MQTTPacket? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
            return nil
        }
        let flags = first & 0x0F
        guard let type = MQTTPacketType(rawValue: first >> 4) else {
            throw MQTTError.malformed("reserved packet type 0")
        }
        if type == .auth && version == .v311 {
            throw MQTTError.malformed("packet type 15 is reserved in MQTT 3.1.1")
        }
        if type == .publish {
            if flags & 0b0110 == 0b0110 {
                throw MQTTError.malformed("PUBLISH with QoS 3")
            }
        } else if flags != type.requiredFlags {
            throw MQTTError.malformed("reserved flags \(flags) in \(type)")
        }
        guard case .value(let remainingLength, let lengthSize) = try buffer.peekMQTTVariableByteInteger(offset: 1)
        else {
            return nil
        }
        let total = 1 + lengthSize + remainingLength
        guard total <= maxPacketSize else {
            throw MQTTError.tooLarge("\(type) of \(total) bytes exceeds the maximum packet size \(maxPacketSize)")
        }
        guard buffer.readableBytes >= total else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: 1 + lengthSize)
        var body = buffer.readSlice(length: remainingLength)!
        let packet = try Self.decodeBody(type: type, flags: flags, body: &body, version: version)
        guard body.readableBytes == 0 else {
            throw MQTTError.malformed("\(body.readableBytes) trailing bytes in \(type)")
        }
        return packet
    }

    private static func decodeBody(
        type: MQTTPacketType,
        flags: UInt8,
        body: inout ByteBuffer,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTPacket {
        switch type {
        case .connect:
            return .connect(try MQTTConnect.decode(from: &body))
        case .connack:
            return .connack(try MQTTConnAck.decode(from: &body, version: version))
        case .publish:
            return .publish(try MQTTPublish.decode(from: &body, flags: flags, version: version))
        case .puback:
            return .puback(try MQTTPubAck.decode(from: &body, version: version, type: type))
        case .pubrec:
            return .pubrec(try MQTTPubAck.decode(from: &body, version: version, type: type))
        case .pubrel:
            return .pubrel(try MQTTPubAck.decode(from: &body, version: version, type: type))
        case .pubcomp:
            return .pubcomp(try MQTTPubAck.decode(from: &body, version: version, type: type))
        case .subscribe:
            return .subscribe(try MQTTSubscribe.decode(from: &body, version: version))
        case .suback:
            return .suback(try MQTTSubAck.decode(from: &body, version: version))
        case .unsubscribe:
            return .unsubscribe(try MQTTUnsubscribe.decode(from: &body, version: version))
        case .unsuback:
            return .unsuback(try MQTTUnsubAck.decode(from: &body, version: version))
        case .pingreq:
            return .pingreq
        case .pingresp:
            return .pingresp
        case .disconnect:
            return .disconnect(try MQTTDisconnect.decode(from: &body, version: version))
        case .auth:
            return .auth(try MQTTAuth.decode(from: &body))
        }
    }
}

// MARK: - Shared checks

private func readPacketIdentifier(_ buffer: inout ByteBuffer, _ type: MQTTPacketType) throws(MQTTError) -> UInt16 {
    let identifier = try buffer.readMQTTUInt16()
    guard identifier != 0 else {
        throw MQTTError.protocolError("\(type) with Packet Identifier 0")
    }
    return identifier
}

private func readReasonCode(
    _ buffer: inout ByteBuffer,
    allowed: Set<UInt8>,
    _ type: MQTTPacketType
) throws(MQTTError) -> MQTTReasonCode {
    let code = MQTTReasonCode(rawValue: try buffer.readMQTTByte())
    guard allowed.contains(code.rawValue) else {
        throw MQTTError.malformed("reason code \(code) is not allowed in \(type)")
    }
    return code
}

// MARK: - Per packet

extension MQTTConnect {
    fileprivate static func decode(from buffer: inout ByteBuffer) throws(MQTTError) -> MQTTConnect {
        let protocolName = try buffer.readMQTTString()
        let level = try buffer.readMQTTByte()
        guard protocolName == "MQTT", let version = MQTTProtocolVersion(rawValue: level) else {
            throw MQTTError(
                .unsupportedProtocolVersion,
                reasonCode: .unsupportedProtocolVersion,
                "protocol \(protocolName) level \(level) is not MQTT 3.1.1 or 5.0"
            )
        }
        let flags = try buffer.readMQTTByte()
        guard flags & 1 == 0 else {
            throw MQTTError.malformed("CONNECT reserved flag is set")
        }
        let hasUsername = flags & 0b1000_0000 != 0
        let hasPassword = flags & 0b100_0000 != 0
        let willRetain = flags & 0b10_0000 != 0
        let willQoSBits = (flags >> 3) & 0b11
        let hasWill = flags & 0b100 != 0
        guard let willQoS = MQTTQoS(rawValue: willQoSBits) else {
            throw MQTTError.malformed("CONNECT Will QoS 3")
        }
        if !hasWill && (willQoSBits != 0 || willRetain) {
            throw MQTTError.malformed("CONNECT Will QoS or Will Retain set without a Will")
        }
        if version == .v311 && hasPassword && !hasUsername {
            throw MQTTError.malformed("MQTT 3.1.1 CONNECT with a Password but no User Name")
        }
        var connect = MQTTConnect(
            protocolVersion: version,
            cleanStart: flags & 0b10 != 0,
            keepAlive: try buffer.readMQTTUInt16(),
            clientIdentifier: ""
        )
        if version == .v5 {
            connect.properties = try MQTTProperties.decode(from: &buffer, context: .connect)
        }
        connect.clientIdentifier = try buffer.readMQTTString()
        if hasWill {
            let properties =
                version == .v5 ? try MQTTProperties.decode(from: &buffer, context: .will) : MQTTProperties()
            let topic = try buffer.readMQTTString()
            try MQTTTopic.validateName(topic)
            let payload = try buffer.readMQTTLengthPrefixedSlice()
            connect.will = MQTTWill(
                topic: topic,
                payload: payload,
                qos: willQoS,
                retain: willRetain,
                properties: properties
            )
        }
        if hasUsername {
            connect.username = try buffer.readMQTTString()
        }
        if hasPassword {
            connect.password = try buffer.readMQTTBinary()
        }
        return connect
    }
}

extension MQTTConnAck {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTConnAck {
        let flags = try buffer.readMQTTByte()
        guard flags & 0b1111_1110 == 0 else {
            throw MQTTError.malformed("CONNACK reserved flags are set")
        }
        var connack = MQTTConnAck(sessionPresent: flags == 1)
        switch version {
        case .v311:
            let returnCode = Int(try buffer.readMQTTByte())
            guard returnCode < MQTTReasonCode.v3ConnectReturnCodes.count else {
                throw MQTTError.malformed("CONNACK return code \(returnCode) is reserved")
            }
            connack.reasonCode = MQTTReasonCode.v3ConnectReturnCodes[returnCode]
        case .v5:
            connack.reasonCode = try readReasonCode(&buffer, allowed: MQTTReasonCode.allowedInConnAck, .connack)
            connack.properties = try MQTTProperties.decode(from: &buffer, context: .connack)
        }
        if connack.sessionPresent && connack.reasonCode.isFailure {
            throw MQTTError.protocolError("CONNACK refuses the connection but sets Session Present")
        }
        return connack
    }
}

extension MQTTPublish {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        flags: UInt8,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTPublish {
        let qos = MQTTQoS(rawValue: (flags >> 1) & 0b11)!  // QoS 3 was rejected with the fixed header
        let dup = flags & 0b1000 != 0
        if qos == .atMostOnce && dup {
            throw MQTTError.malformed("DUP set on a QoS 0 PUBLISH")
        }
        let topic = try buffer.readMQTTString()
        let packetIdentifier = qos == .atMostOnce ? nil : try readPacketIdentifier(&buffer, .publish)
        let properties =
            version == .v5 ? try MQTTProperties.decode(from: &buffer, context: .publish) : MQTTProperties()
        try MQTTTopic.validateName(topic, allowEmpty: properties.topicAlias != nil)
        let payload = buffer.readSlice(length: buffer.readableBytes)!
        return MQTTPublish(
            topic: topic,
            payload: payload,
            qos: qos,
            retain: flags & 1 != 0,
            dup: dup,
            packetIdentifier: packetIdentifier,
            properties: properties
        )
    }
}

extension MQTTPubAck {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion,
        type: MQTTPacketType
    ) throws(MQTTError) -> MQTTPubAck {
        var ack = MQTTPubAck(packetIdentifier: try readPacketIdentifier(&buffer, type))
        guard version == .v5 else {
            return ack
        }
        if buffer.readableBytes > 0 {
            let allowed =
                type == .puback || type == .pubrec
                ? MQTTReasonCode.allowedInPubAckOrPubRec : MQTTReasonCode.allowedInPubRelOrPubComp
            ack.reasonCode = try readReasonCode(&buffer, allowed: allowed, type)
        }
        if buffer.readableBytes > 0 {
            ack.properties = try MQTTProperties.decode(from: &buffer, context: .pubAck)
        }
        return ack
    }
}

extension MQTTSubscribe {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTSubscribe {
        var subscribe = MQTTSubscribe(
            packetIdentifier: try readPacketIdentifier(&buffer, .subscribe),
            subscriptions: []
        )
        if version == .v5 {
            subscribe.properties = try MQTTProperties.decode(from: &buffer, context: .subscribe)
        }
        while buffer.readableBytes > 0 {
            let filter = try buffer.readMQTTString()
            try MQTTTopic.validateFilter(filter)
            let byte = try buffer.readMQTTByte()
            let reservedMask: UInt8 = version == .v5 ? 0b1100_0000 : 0b1111_1100
            guard byte & reservedMask == 0 else {
                throw MQTTError.malformed("SUBSCRIBE options use reserved bits")
            }
            guard let qos = MQTTQoS(rawValue: byte & 0b11) else {
                throw MQTTError.malformed("SUBSCRIBE with QoS 3")
            }
            guard let retainHandling = MQTTRetainHandling(rawValue: (byte >> 4) & 0b11) else {
                throw MQTTError.protocolError("SUBSCRIBE with Retain Handling 3")
            }
            let options = MQTTSubscriptionOptions(
                qos: qos,
                noLocal: byte & 0b100 != 0,
                retainAsPublished: byte & 0b1000 != 0,
                retainHandling: retainHandling
            )
            if options.noLocal && filter.hasPrefix(MQTTTopic.sharedSubscriptionPrefix) {
                throw MQTTError.protocolError("No Local on a shared subscription")
            }
            subscribe.subscriptions.append(MQTTSubscription(topicFilter: filter, options: options))
        }
        guard !subscribe.subscriptions.isEmpty else {
            throw MQTTError.protocolError("SUBSCRIBE without a topic filter")
        }
        return subscribe
    }
}

extension MQTTSubAck {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTSubAck {
        var suback = MQTTSubAck(packetIdentifier: try readPacketIdentifier(&buffer, .suback), reasonCodes: [])
        if version == .v5 {
            suback.properties = try MQTTProperties.decode(from: &buffer, context: .suback)
        }
        let allowed = version == .v5 ? MQTTReasonCode.allowedInSubAck : MQTTReasonCode.allowedInSubAckV3
        suback.reasonCodes.reserveCapacity(buffer.readableBytes)
        while buffer.readableBytes > 0 {
            suback.reasonCodes.append(try readReasonCode(&buffer, allowed: allowed, .suback))
        }
        guard !suback.reasonCodes.isEmpty else {
            throw MQTTError.protocolError("SUBACK without a reason code")
        }
        return suback
    }
}

extension MQTTUnsubscribe {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTUnsubscribe {
        var unsubscribe = MQTTUnsubscribe(
            packetIdentifier: try readPacketIdentifier(&buffer, .unsubscribe),
            topicFilters: []
        )
        if version == .v5 {
            unsubscribe.properties = try MQTTProperties.decode(from: &buffer, context: .unsubscribe)
        }
        while buffer.readableBytes > 0 {
            let filter = try buffer.readMQTTString()
            try MQTTTopic.validateFilter(filter)
            unsubscribe.topicFilters.append(filter)
        }
        guard !unsubscribe.topicFilters.isEmpty else {
            throw MQTTError.protocolError("UNSUBSCRIBE without a topic filter")
        }
        return unsubscribe
    }
}

extension MQTTUnsubAck {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTUnsubAck {
        var unsuback = MQTTUnsubAck(packetIdentifier: try readPacketIdentifier(&buffer, .unsuback))
        guard version == .v5 else {
            return unsuback
        }
        unsuback.properties = try MQTTProperties.decode(from: &buffer, context: .unsuback)
        unsuback.reasonCodes.reserveCapacity(buffer.readableBytes)
        while buffer.readableBytes > 0 {
            unsuback.reasonCodes.append(
                try readReasonCode(&buffer, allowed: MQTTReasonCode.allowedInUnsubAck, .unsuback)
            )
        }
        guard !unsuback.reasonCodes.isEmpty else {
            throw MQTTError.protocolError("UNSUBACK without a reason code")
        }
        return unsuback
    }
}

extension MQTTDisconnect {
    fileprivate static func decode(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion
    ) throws(MQTTError) -> MQTTDisconnect {
        var disconnect = MQTTDisconnect()
        guard version == .v5 else {
            return disconnect
        }
        if buffer.readableBytes > 0 {
            disconnect.reasonCode = try readReasonCode(
                &buffer,
                allowed: MQTTReasonCode.allowedInDisconnect,
                .disconnect
            )
        }
        if buffer.readableBytes > 0 {
            disconnect.properties = try MQTTProperties.decode(from: &buffer, context: .disconnect)
        }
        return disconnect
    }
}

extension MQTTAuth {
    fileprivate static func decode(from buffer: inout ByteBuffer) throws(MQTTError) -> MQTTAuth {
        var auth = MQTTAuth()
        guard buffer.readableBytes > 0 else {
            return auth
        }
        auth.reasonCode = try readReasonCode(&buffer, allowed: MQTTReasonCode.allowedInAuth, .auth)
        auth.properties = try MQTTProperties.decode(from: &buffer, context: .auth)
        guard auth.properties.authenticationMethod != nil else {
            throw MQTTError.protocolError("AUTH without an Authentication Method")
        }
        return auth
    }
}

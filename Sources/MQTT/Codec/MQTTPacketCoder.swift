public import NIOCore

/// A pure `NIOSingleStepByteToMessageDecoder` that turns bytes into ``MQTTPacket`` values.
///
/// Wrap it in `ByteToMessageHandler` for a channel pipeline or call ``decode(buffer:)`` directly.
/// The maximum packet size is enforced from the fixed header before the body is buffered, so a peer
/// cannot make the decoder hold more than ``maxPacketSize`` bytes of one packet. Any error is final
/// for the connection: send a `DISCONNECT` with the error's ``MQTTError/reasonCode`` (MQTT 5) and
/// close.
public struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    /// The decoded packet.
    public typealias InboundOut = MQTTPacket

    /// The negotiated protocol version; a client sets it before sending `CONNECT`.
    public var version: MQTTProtocolVersion

    /// The largest packet, in bytes including the fixed header, this side accepts (the Maximum Packet
    /// Size it announced in `CONNECT`, or ``MQTTPacket/maximumPacketSize``).
    public var maxPacketSize: Int

    /// Creates a decoder.
    ///
    /// - Parameters:
    ///   - version: The protocol version.
    ///   - maxPacketSize: The largest packet accepted, in bytes including the fixed header.
    public init(version: MQTTProtocolVersion, maxPacketSize: Int = MQTTPacket.maximumPacketSize) {
        self.version = version
        self.maxPacketSize = maxPacketSize
    }

    /// Decodes the next packet, or returns `nil` when more bytes are needed.
    ///
    /// - Throws: ``MQTTError``.
    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        try MQTTPacket.decode(from: &buffer, version: self.version, maxPacketSize: self.maxPacketSize)
    }

    /// Decodes the next packet at end of input; a partial packet left at EOF is malformed.
    ///
    /// - Throws: ``MQTTError`` with code ``MQTTError/Code/malformedPacket`` for a truncated packet.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        if let packet = try self.decode(buffer: &buffer) {
            return packet
        }
        if seenEOF && buffer.readableBytes > 0 {
            throw MQTTError.malformed("connection closed inside a packet (\(buffer.readableBytes) bytes)")
        }
        return nil
    }
}

/// A `MessageToByteEncoder` that writes ``MQTTPacket`` values with
/// ``MQTTPacket/encode(into:version:maxPacketSize:)``.
public struct MQTTPacketEncoder: MessageToByteEncoder, Sendable {
    /// The packet to encode.
    public typealias OutboundIn = MQTTPacket

    /// The negotiated protocol version.
    public var version: MQTTProtocolVersion

    /// The peer's maximum packet size (from `CONNACK`), in bytes including the fixed header.
    public var maxPacketSize: Int

    /// Creates an encoder.
    ///
    /// - Parameters:
    ///   - version: The protocol version.
    ///   - maxPacketSize: The largest packet the peer accepts.
    public init(version: MQTTProtocolVersion, maxPacketSize: Int = MQTTPacket.maximumPacketSize) {
        self.version = version
        self.maxPacketSize = maxPacketSize
    }

    /// Encodes `data` into `out`.
    ///
    /// - Throws: ``MQTTError``.
    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        try data.encode(into: &out, version: self.version, maxPacketSize: self.maxPacketSize)
    }
}

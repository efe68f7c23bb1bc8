import MQTT
import NIOCore
import Testing

/// A buffer holding `bytes`.
func buffer(_ bytes: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: bytes)
}

/// The UTF-8 bytes of `string`.
func utf8(_ string: String) -> [UInt8] {
    Array(string.utf8)
}

/// A two-byte length prefix followed by the UTF-8 of `string`.
func mqttString(_ string: String) -> [UInt8] {
    let bytes = utf8(string)
    return [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
}

/// Encodes `packet` and returns the bytes.
func encoded(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) throws -> [UInt8] {
    var out = ByteBuffer()
    try packet.encode(into: &out, version: version)
    return Array(out.readableBytesView)
}

/// Decodes exactly one packet from `bytes`, which must contain nothing else.
func decodeOne(
    _ bytes: [UInt8],
    _ version: MQTTProtocolVersion,
    maxPacketSize: Int = MQTTPacket.maximumPacketSize
) throws -> MQTTPacket? {
    var input = buffer(bytes)
    let packet = try MQTTPacket.decode(from: &input, version: version, maxPacketSize: maxPacketSize)
    if packet != nil {
        #expect(input.readableBytes == 0, "decoder left bytes behind")
    }
    return packet
}

/// Expects `body` to throw an `MQTTError` with `code` (and `reasonCode` when given).
func expectMQTTError(
    _ code: MQTTError.Code,
    reasonCode: MQTTReasonCode? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected MQTTError.\(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as MQTTError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let reasonCode {
            #expect(error.reasonCode == reasonCode, "\(error)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected MQTTError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects decoding `bytes` (one whole packet) to throw `code`.
func expectDecodeError(
    _ code: MQTTError.Code,
    reasonCode: MQTTReasonCode? = nil,
    _ bytes: [UInt8],
    _ version: MQTTProtocolVersion,
    maxPacketSize: Int = MQTTPacket.maximumPacketSize,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    expectMQTTError(code, reasonCode: reasonCode, sourceLocation: sourceLocation) {
        _ = try decodeOne(bytes, version, maxPacketSize: maxPacketSize)
    }
}

/// Expects encoding `packet` to throw `code` and to leave the output buffer untouched.
func expectEncodeError(
    _ code: MQTTError.Code,
    reasonCode: MQTTReasonCode? = nil,
    _ packet: MQTTPacket,
    _ version: MQTTProtocolVersion,
    maxPacketSize: Int = MQTTPacket.maximumPacketSize,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var out = ByteBuffer(bytes: [0xAA, 0xBB])
    expectMQTTError(code, reasonCode: reasonCode, sourceLocation: sourceLocation) {
        try packet.encode(into: &out, version: version, maxPacketSize: maxPacketSize)
    }
    #expect(
        Array(out.readableBytesView) == [0xAA, 0xBB], "encoder wrote after an error", sourceLocation: sourceLocation)
}

/// A fixed header: the first byte and the Remaining Length, for bodies shorter than 128 bytes.
func header(_ first: UInt8, _ body: [UInt8]) -> [UInt8] {
    precondition(body.count < 128)
    return [first, UInt8(body.count)] + body
}

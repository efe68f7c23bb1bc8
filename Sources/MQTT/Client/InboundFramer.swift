import NIOCore

/// Splits the bytes from the broker into packets. A PUBLISH larger than the client's maximum packet size is
/// skipped, not fatal: its topic and packet identifier are read, the rest is discarded as it arrives, and the
/// caller decides how to acknowledge it. Any other oversized or malformed packet throws, which ends the connection.
///
/// A broker must not send a packet over the Maximum Packet Size the client announced (MQTT 5 §3.1.2.11.4), but some
/// do (ejabberd ignores it), and MQTT 3.1.1 has no way to announce one. Dropping the connection would make the
/// broker resend the same QoS 1/2 message forever. Memory stays bounded: at most the maximum packet size, or the
/// oversized PUBLISH's fixed header and topic (at most 65,542 bytes), is held.
struct InboundFramer {
    /// What the bytes contained.
    enum Event {
        case packet(MQTTPacket)
        /// A PUBLISH of `size` bytes that exceeds the limit, skipped.
        case skippedPublish(topic: String, qos: MQTTQoS, packetIdentifier: UInt16?, size: Int)
    }

    let version: MQTTProtocolVersion
    let maxPacketSize: Int
    private var buffer: ByteBuffer?
    /// Bytes of a skipped PUBLISH still to discard.
    private var skipping = 0

    init(version: MQTTProtocolVersion, maxPacketSize: Int) {
        self.version = version
        self.maxPacketSize = maxPacketSize
    }

    /// Consumes `input` and reports every complete packet (or skipped PUBLISH) in order.
    mutating func process(_ input: ByteBuffer, _ emit: (Event) -> Void) throws(MQTTError) {
        // `buffer` only ever holds an incomplete packet (never while skipping), so the input is usually taken
        // without a copy.
        var bytes = input
        if var pending = buffer {
            buffer = nil  // keep the storage uniquely referenced while appending
            pending.discardReadBytes()
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        defer { buffer = bytes.readableBytes > 0 ? bytes : nil }
        while bytes.readableBytes > 0 {
            if skipping > 0 {
                let dropped = min(skipping, bytes.readableBytes)
                bytes.moveReaderIndex(forwardBy: dropped)
                skipping -= dropped
                continue
            }
            do throws(MQTTError) {
                guard let packet = try MQTTPacket.decode(from: &bytes, version: version, maxPacketSize: maxPacketSize)
                else {
                    return
                }
                emit(.packet(packet))
            } catch {
                // The decoder checks the size from the fixed header, before the body is buffered. Only an
                // oversized PUBLISH is skipped; anything else ends the connection.
                guard error.code == .packetTooLarge, let skipped = try oversizedPublish(in: bytes) else { throw error }
                guard case .skip(let event, let total) = skipped else { return }  // header not complete yet
                emit(event)
                skipping = total
            }
        }
    }

    private enum Oversized {
        case incomplete
        case skip(Event, total: Int)
    }

    /// The topic and packet identifier of the PUBLISH at the start of `bytes`, which the decoder found larger than
    /// the maximum packet size; nil when the packet is not a PUBLISH.
    private func oversizedPublish(in bytes: ByteBuffer) throws(MQTTError) -> Oversized? {
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self), first >> 4 == 3 else { return nil }
        guard case .value(let remaining, let lengthSize) = try bytes.peekMQTTVariableByteInteger(offset: 1) else {
            return nil
        }
        let total = 1 + lengthSize + remaining
        // QoS 3 never gets here: the decoder rejects it as malformed before it checks the size.
        guard let qos = MQTTQoS(rawValue: (first >> 1) & 0b11) else { return nil }
        let topicStart = bytes.readerIndex + 1 + lengthSize
        guard let topicLength = bytes.getInteger(at: topicStart, endianness: .big, as: UInt16.self) else {
            return .incomplete
        }
        let idLength = qos == .atMostOnce ? 0 : 2
        guard 2 + Int(topicLength) + idLength <= remaining else {
            throw MQTTError.malformed("PUBLISH shorter than its topic and packet identifier")
        }
        guard bytes.readableBytes >= 1 + lengthSize + 2 + Int(topicLength) + idLength else { return .incomplete }
        let topic = bytes.getString(at: topicStart + 2, length: Int(topicLength)) ?? ""
        let packetIdentifier =
            idLength == 0
            ? nil : bytes.getInteger(at: topicStart + 2 + Int(topicLength), endianness: .big, as: UInt16.self)
        return .skip(
            .skippedPublish(topic: topic, qos: qos, packetIdentifier: packetIdentifier, size: total), total: total)
    }
}

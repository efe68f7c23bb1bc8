import NIOCore

/// The byte layout of a session store's log (`session.log`), pure encoding and decoding. The file is:
///
/// - a header: the magic `MQSL`, format version `1`, the client identifier (2-byte big-endian length, UTF-8), and
///   a CRC-32 of those bytes;
/// - then records, each `length` (4 bytes) `||` `crc32` (4 bytes, over the rest) `||` `type` (1 byte) `||` body,
///   all integers big-endian.
///
/// A record is valid only when all of its bytes are there and its CRC matches. Reading stops at the first record
/// that is not: a write torn by a crash or a power loss leaves exactly such a tail, and everything before it
/// stands. See the "Session store" article for the reasoning.
enum SessionLogFormat {
    static let magic: [UInt8] = Array("MQSL".utf8)
    static let version: UInt8 = 1
    /// A record's length and CRC fields.
    static let recordPrefix = 8
    /// No record is longer than the largest PUBLISH plus its fields.
    static let maximumRecordLength = MQTTPacket.maximumPacketSize + 1024

    enum RecordType: UInt8 {
        case accepted = 1
        case assigned = 2
        case released = 3
        case finished = 4
        case incomingReceived = 5
        case incomingReleased = 6
        case incomingCleared = 7
    }

    // MARK: - Header

    static func header(clientID: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(magic)
        buffer.writeInteger(version)
        let id = Array(clientID.utf8)
        buffer.writeInteger(UInt16(truncatingIfNeeded: id.count))
        buffer.writeBytes(id)
        buffer.writeInteger(CRC32.checksum(buffer.readableBytesView))
        return buffer
    }

    /// What the start of a log file says.
    enum HeaderReading: Equatable {
        /// A complete header for this client id, `length` bytes long.
        case valid(clientID: String, length: Int)
        /// Fewer bytes than a header (a store whose creation was cut short): it holds nothing.
        case incomplete
        /// Not a session log, another format version, or a damaged header.
        case invalid(String)
    }

    static func readHeader(_ bytes: ByteBuffer) -> HeaderReading {
        var buffer = bytes
        guard buffer.readableBytes >= magic.count + 3 else { return .incomplete }
        guard buffer.readBytes(length: magic.count) == magic else { return .invalid("not a session store log") }
        guard let format = buffer.readInteger(as: UInt8.self), format == version else {
            return .invalid("a session store log of another format version")
        }
        guard let idLength = buffer.readInteger(as: UInt16.self) else { return .incomplete }
        guard let id = buffer.readBytes(length: Int(idLength)), let crc = buffer.readInteger(as: UInt32.self) else {
            return .incomplete
        }
        let length = bytes.readableBytes - buffer.readableBytes
        guard CRC32.checksum(bytes.readableBytesView.prefix(length - 4)) == crc else {
            return .invalid("the session store's header is damaged")
        }
        return .valid(clientID: String(decoding: id, as: UTF8.self), length: length)
    }

    // MARK: - Records

    /// Appends `record` to `buffer`.
    static func append(_ record: SessionRecord, to buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt32(0))
        let bodyStart = buffer.writerIndex
        switch record {
        case .accepted(let key, let publish):
            buffer.writeInteger(RecordType.accepted.rawValue)
            buffer.writeInteger(key)
            buffer.writeInteger(publish.qos.rawValue)
            buffer.writeInteger(UInt8(publish.retain ? 1 : 0))
            let topic = Array(publish.topic.utf8)
            buffer.writeInteger(UInt16(truncatingIfNeeded: topic.count))
            buffer.writeBytes(topic)
            // Properties were validated when the application handed the message over.
            var properties = ByteBuffer()
            try? publish.properties.encode(into: &properties, context: .publish)
            buffer.writeInteger(UInt32(properties.readableBytes))
            buffer.writeImmutableBuffer(properties)
            buffer.writeImmutableBuffer(publish.payload)
        case .assigned(let key, let id):
            buffer.writeInteger(RecordType.assigned.rawValue)
            buffer.writeInteger(key)
            buffer.writeInteger(id)
        case .released(let key):
            buffer.writeInteger(RecordType.released.rawValue)
            buffer.writeInteger(key)
        case .finished(let key):
            buffer.writeInteger(RecordType.finished.rawValue)
            buffer.writeInteger(key)
        case .incomingReceived(let id):
            buffer.writeInteger(RecordType.incomingReceived.rawValue)
            buffer.writeInteger(id)
        case .incomingReleased(let id):
            buffer.writeInteger(RecordType.incomingReleased.rawValue)
            buffer.writeInteger(id)
        case .incomingCleared:
            buffer.writeInteger(RecordType.incomingCleared.rawValue)
        }
        let length = buffer.writerIndex - bodyStart
        let crc = CRC32.checksum(buffer.viewBytes(at: bodyStart, length: length) ?? ByteBufferView())
        buffer.setInteger(UInt32(length), at: start)
        buffer.setInteger(crc, at: start + 4)
    }

    /// The records read from a log's bytes after its header.
    struct Replay {
        var records: [SessionRecord] = []
        /// The bytes that hold complete, valid records: the log is truncated here before new records follow.
        var validLength = 0
        /// Whether bytes after the valid records were dropped (a torn write).
        var droppedTail = false
    }

    /// Reads records until the end of `bytes` or the first incomplete or damaged one.
    static func replay(_ bytes: ByteBuffer) -> Replay {
        var buffer = bytes
        var replay = Replay()
        while buffer.readableBytes > 0 {
            guard buffer.readableBytes >= recordPrefix,
                let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self).map(Int.init),
                length > 0, length <= maximumRecordLength, buffer.readableBytes >= recordPrefix + length,
                let crc = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self),
                let body = buffer.getSlice(at: buffer.readerIndex + recordPrefix, length: length),
                CRC32.checksum(body.readableBytesView) == crc,
                let record = decode(body)
            else {
                replay.droppedTail = true
                break
            }
            replay.records.append(record)
            buffer.moveReaderIndex(forwardBy: recordPrefix + length)
            replay.validLength = bytes.readableBytes - buffer.readableBytes
        }
        return replay
    }

    /// One record's type and body; `nil` if it does not parse (treated like a damaged record).
    static func decode(_ body: ByteBuffer) -> SessionRecord? {
        var body = body
        guard let raw = body.readInteger(as: UInt8.self), let type = RecordType(rawValue: raw) else { return nil }
        let record: SessionRecord
        switch type {
        case .accepted:
            guard let key = body.readInteger(as: UInt64.self),
                let qos = body.readInteger(as: UInt8.self).flatMap(MQTTQoS.init(rawValue:)), qos != .atMostOnce,
                let retain = body.readInteger(as: UInt8.self), retain <= 1,
                let topicLength = body.readInteger(as: UInt16.self),
                let topic = body.readBytes(length: Int(topicLength)),
                let propertiesLength = body.readInteger(as: UInt32.self),
                var properties = body.readSlice(length: Int(propertiesLength)),
                let decoded = try? MQTTProperties.decode(from: &properties, context: .publish)
            else { return nil }
            var publish = StoredPublish(
                MQTTPublish(topic: String(decoding: topic, as: UTF8.self), payload: body, qos: qos, retain: retain == 1)
            )
            publish.properties = decoded
            return .accepted(key: key, publish)
        case .assigned:
            guard let key = body.readInteger(as: UInt64.self), let id = body.readInteger(as: UInt16.self), id != 0
            else { return nil }
            record = .assigned(key: key, packetIdentifier: id)
        case .released:
            guard let key = body.readInteger(as: UInt64.self) else { return nil }
            record = .released(key: key)
        case .finished:
            guard let key = body.readInteger(as: UInt64.self) else { return nil }
            record = .finished(key: key)
        case .incomingReceived:
            guard let id = body.readInteger(as: UInt16.self) else { return nil }
            record = .incomingReceived(packetIdentifier: id)
        case .incomingReleased:
            guard let id = body.readInteger(as: UInt16.self) else { return nil }
            record = .incomingReleased(packetIdentifier: id)
        case .incomingCleared:
            record = .incomingCleared
        }
        return body.readableBytes == 0 ? record : nil
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib and PNG compute it.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1 }
        return value
    }

    static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

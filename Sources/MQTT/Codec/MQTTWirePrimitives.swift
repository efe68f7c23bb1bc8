import NIOCore

/// Wire limits of the MQTT encoding.
enum MQTTWire {
    /// The largest value of a Variable Byte Integer (MQTT 5 §1.5.5): 268,435,455.
    static let maxVariableByteInteger = 268_435_455
    /// The largest possible packet: 1 byte type, 4 bytes remaining length, 268,435,455 bytes body.
    static let maxPacketSize = 1 + 4 + maxVariableByteInteger
    /// The largest UTF-8 string or binary data field: 65,535 bytes.
    static let maxFieldLength = 65_535

    /// The number of bytes the Variable Byte Integer encoding of `value` takes (1 to 4).
    static func variableByteIntegerLength(_ value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }
}

/// The result of peeking a Variable Byte Integer at the front of a buffer.
enum PeekedVariableByteInteger {
    /// More bytes are needed.
    case incomplete
    /// The value and how many bytes it took.
    case value(Int, length: Int)
}

extension ByteBuffer {
    // MARK: Reading. Every read checks the length first and throws `malformedPacket` when short.

    /// Peeks a Variable Byte Integer starting `offset` bytes after the reader index without moving it.
    /// Throws when it is longer than 4 bytes or not minimally encoded (MQTT 5 §1.5.5).
    func peekMQTTVariableByteInteger(offset: Int = 0) throws(MQTTError) -> PeekedVariableByteInteger {
        var value = 0
        var multiplier = 1
        for index in 0..<4 {
            guard let byte = self.getInteger(at: self.readerIndex + offset + index, as: UInt8.self) else {
                return .incomplete
            }
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 {
                if index > 0 && byte == 0 {
                    throw MQTTError.malformed("Variable Byte Integer is not minimally encoded")
                }
                return .value(value, length: index + 1)
            }
            multiplier *= 128
        }
        throw MQTTError.malformed("Variable Byte Integer longer than 4 bytes")
    }

    /// Reads a Variable Byte Integer that must be complete within the readable bytes.
    mutating func readMQTTVariableByteInteger() throws(MQTTError) -> Int {
        switch try self.peekMQTTVariableByteInteger() {
        case .incomplete:
            throw MQTTError.malformed("truncated Variable Byte Integer")
        case .value(let value, let length):
            self.moveReaderIndex(forwardBy: length)
            return value
        }
    }

    mutating func readMQTTByte() throws(MQTTError) -> UInt8 {
        guard let value = self.readInteger(as: UInt8.self) else {
            throw MQTTError.malformed("truncated packet: expected 1 byte")
        }
        return value
    }

    mutating func readMQTTUInt16() throws(MQTTError) -> UInt16 {
        guard let value = self.readInteger(endianness: .big, as: UInt16.self) else {
            throw MQTTError.malformed("truncated packet: expected a Two Byte Integer")
        }
        return value
    }

    mutating func readMQTTUInt32() throws(MQTTError) -> UInt32 {
        guard let value = self.readInteger(endianness: .big, as: UInt32.self) else {
            throw MQTTError.malformed("truncated packet: expected a Four Byte Integer")
        }
        return value
    }

    /// Reads a length-prefixed field and returns it as a slice.
    mutating func readMQTTLengthPrefixedSlice() throws(MQTTError) -> ByteBuffer {
        let length = Int(try self.readMQTTUInt16())
        guard let slice = self.readSlice(length: length) else {
            throw MQTTError.malformed("truncated packet: field of \(length) bytes")
        }
        return slice
    }

    /// Reads Binary Data (two-byte length, then bytes).
    mutating func readMQTTBinary() throws(MQTTError) -> [UInt8] {
        let slice = try self.readMQTTLengthPrefixedSlice()
        return Array(slice.readableBytesView)
    }

    /// Reads a UTF-8 Encoded String: well-formed UTF-8 (no surrogates, no overlong forms) and no U+0000.
    mutating func readMQTTString() throws(MQTTError) -> String {
        let slice = try self.readMQTTLengthPrefixedSlice()
        return try slice.validatedMQTTString()
    }

    /// The readable bytes as a validated MQTT UTF-8 string.
    func validatedMQTTString() throws(MQTTError) -> String {
        let string = self.withUnsafeReadableBytes { bytes -> String? in
            if bytes.contains(0) { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
        guard let string else {
            throw MQTTError.malformed("string is not valid UTF-8 or contains U+0000")
        }
        return string
    }

    // MARK: Writing

    /// Writes `value` as a Variable Byte Integer. The caller checks the range.
    mutating func writeMQTTVariableByteInteger(_ value: Int) {
        precondition(value >= 0 && value <= MQTTWire.maxVariableByteInteger)
        var remaining = value
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            self.writeInteger(byte)
        } while remaining > 0
    }

    /// Writes a UTF-8 Encoded String; throws `invalidArgument` when it is longer than 65,535 bytes or
    /// contains U+0000.
    mutating func writeMQTTString(_ string: String, field: StaticString) throws(MQTTError) {
        var string = string
        let ok = string.withUTF8 { bytes -> Bool in
            guard bytes.count <= MQTTWire.maxFieldLength, !bytes.contains(0) else { return false }
            self.writeInteger(UInt16(bytes.count))
            self.writeBytes(bytes)
            return true
        }
        guard ok else {
            throw MQTTError.invalidArgument("\(field) is longer than 65535 bytes or contains U+0000")
        }
    }

    /// Writes Binary Data; throws `invalidArgument` when it is longer than 65,535 bytes.
    mutating func writeMQTTBinary(_ bytes: some Collection<UInt8>, field: StaticString) throws(MQTTError) {
        guard bytes.count <= MQTTWire.maxFieldLength else {
            throw MQTTError.invalidArgument("\(field) is longer than 65535 bytes")
        }
        self.writeInteger(UInt16(bytes.count))
        self.writeBytes(bytes)
    }

    /// Writes the bytes produced by `body` preceded by their length as a Variable Byte Integer,
    /// without computing the length first: 4 bytes are reserved, then the body is moved down if its
    /// length needs fewer. Throws `tooLarge` when the length exceeds the Variable Byte Integer range.
    mutating func writeMQTTVariableLengthPrefixed(
        tooLarge: MQTTError,
        _ body: (inout ByteBuffer) throws(MQTTError) -> Void
    ) throws(MQTTError) {
        let lengthIndex = self.writerIndex
        self.writeInteger(UInt32(0))
        let bodyIndex = self.writerIndex
        try body(&self)
        let length = self.writerIndex - bodyIndex
        guard length <= MQTTWire.maxVariableByteInteger else {
            throw tooLarge
        }
        let lengthSize = MQTTWire.variableByteIntegerLength(length)
        if lengthSize < 4 {
            // Overlapping move is allowed by copyBytes (memmove); the source range is readable.
            _ = try? self.copyBytes(at: bodyIndex, to: lengthIndex + lengthSize, length: length)
        }
        var remaining = length
        for index in 0..<lengthSize {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if index < lengthSize - 1 { byte |= 0x80 }
            self.setInteger(byte, at: lengthIndex + index)
        }
        self.moveWriterIndex(to: lengthIndex + lengthSize + length)
    }
}

/// The JSON subset that every document of this package is written in (``JSON``: strings, unsigned integers, arrays,
/// objects), checked before `JSONDecoder` reads a document: `JSONDecoder` alone accepts `1.0` for an integer,
/// `null` for an optional string and the last of two members with one name, and the specifications call all of
/// them `corrupt` (Specs/keyring.md §1).
///
/// Refused: `null`, `true`, `false`; a number that is not a canonical unsigned decimal integer (no sign, fraction,
/// exponent or leading zero) or does not fit 64 bits; two members of one object with the same name (compared as
/// UTF-8 bytes after unescaping); nesting deeper than ``maximumDepth``; anything that is not JSON.
package enum StrictJSON {
    /// Deeper nesting is refused (the documents nest 4 levels at most).
    package static let maximumDepth = 16

    /// Checks `bytes`; the error is one plain sentence for a `corrupt` error.
    package static func check(_ bytes: [UInt8]) throws(StrictJSONError) {
        var reader = Reader(bytes: bytes)
        reader.skipSpace()
        try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.atEnd else { throw reader.failure("text after the document") }
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }

        func failure(_ what: String) -> StrictJSONError { StrictJSONError(message: "\(what) at byte \(index)") }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func value(depth: Int) throws(StrictJSONError) {
            guard depth < StrictJSON.maximumDepth else { throw failure("nesting too deep") }
            guard index < bytes.count else { throw failure("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "n"): throw failure("null (absent fields are omitted)")
            case UInt8(ascii: "t"), UInt8(ascii: "f"): throw failure("a boolean where none is allowed")
            case UInt8(ascii: "-"): throw failure("a negative number")
            default: throw failure("not JSON")
            }
        }

        mutating func object(depth: Int) throws(StrictJSONError) {
            index += 1
            var names = Set<[UInt8]>()
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a name") }
                let nameStart = index
                let name = try string()
                guard names.insert(name).inserted else {
                    index = nameStart
                    throw failure("a duplicate member \"\(String(decoding: name, as: UTF8.self))\"")
                }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                index += 1
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                guard index < bytes.count else { throw failure("unexpected end") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "}") else { throw failure("expected ',' or '}'") }
                index += 1
                return
            }
        }

        mutating func array(depth: Int) throws(StrictJSONError) {
            index += 1
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                guard index < bytes.count else { throw failure("unexpected end") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "]") else { throw failure("expected ',' or ']'") }
                index += 1
                return
            }
        }

        /// A canonical unsigned integer that fits `UInt64`.
        mutating func number() throws(StrictJSONError) {
            let start = index
            var value: UInt64 = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else {
                    index = start
                    throw failure("a number above 2^64-1")
                }
                value = sum
                index += 1
            }
            if index - start > 1, bytes[start] == UInt8(ascii: "0") {
                index = start
                throw failure("a number with a leading zero")
            }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                index = start
                throw failure("a number that is not an integer")
            }
        }

        /// The string's UTF-8 bytes, unescaped; the reader stands after its closing quote.
        mutating func string() throws(StrictJSONError) -> [UInt8] {
            index += 1
            var out: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return out
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { throw failure("unexpected end") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"): try unicodeEscape(into: &out)
                    default: throw failure("an invalid escape")
                    }
                case 0x00..<0x20:
                    throw failure("a control character in a string")
                default:
                    out.append(byte)
                }
            }
            throw failure("an unterminated string")
        }

        mutating func hex4() throws(StrictJSONError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw failure("unexpected end") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw failure("an invalid \\u escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        mutating func unicodeEscape(into out: inout [UInt8]) throws(StrictJSONError) {
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else { throw failure("an unpaired surrogate") }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("an unpaired surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw failure("an unpaired surrogate")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw failure("an invalid \\u escape") }
            out.append(contentsOf: String(Character(unicode)).utf8)
        }
    }
}

/// Why a document is not in the strict subset (one sentence, for a `corrupt` error).
package struct StrictJSONError: Error {
    package let message: String
}

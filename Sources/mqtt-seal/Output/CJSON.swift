import Foundation

/// JSON as `mosquitto_sub -F %j / %J` prints it: the layout of cJSON (which mosquitto uses), so that a script
/// written against mosquitto_sub's output reads ours byte for byte.
///
/// Unformatted: no spaces (`{"a":1,"b":[1,2]}`). Pretty (`--pretty`): each member on its own line, indented by
/// tabs, a tab after the colon, arrays on one line with `, ` between items. Strings escape `"`, `\`, `\b \f \n \r
/// \t` and other control characters as `\u00XX`; every other byte is written as it is. Numbers are integers when
/// they are whole and fit in 32 bits, else the shortest of `%1.15g` and `%1.17g` that reads back the same.
indirect enum CJSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string([UInt8])
    case array([CJSON])
    /// Members in order; duplicates are kept, as cJSON keeps them.
    case object([(key: [UInt8], value: CJSON)])

    // MARK: - Writing

    /// The value as cJSON prints it.
    func written(pretty: Bool) -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out, pretty: pretty, depth: 0)
        return out
    }

    private func write(to out: inout [UInt8], pretty: Bool, depth: Int) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let value): out += Array((value ? "true" : "false").utf8)
        case .number(let value): out += Array(Self.format(value).utf8)
        case .string(let bytes): Self.writeString(bytes, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                item.write(to: &out, pretty: pretty, depth: depth + 1)
                if index < items.count - 1 {
                    out.append(UInt8(ascii: ","))
                    if pretty { out.append(UInt8(ascii: " ")) }
                }
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            if pretty { out.append(UInt8(ascii: "\n")) }
            for (index, member) in members.enumerated() {
                if pretty { out += [UInt8](repeating: UInt8(ascii: "\t"), count: depth + 1) }
                Self.writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(UInt8(ascii: "\t")) }
                member.value.write(to: &out, pretty: pretty, depth: depth + 1)
                if index < members.count - 1 { out.append(UInt8(ascii: ",")) }
                if pretty { out.append(UInt8(ascii: "\n")) }
            }
            if pretty { out += [UInt8](repeating: UInt8(ascii: "\t"), count: depth) }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// cJSON's `print_number`.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        let clamped: Int32 =
            value >= Double(Int32.max) ? .max : value <= Double(Int32.min) ? .min : Int32(value)
        if value == Double(clamped) { return String(clamped) }
        let short = String(format: "%1.15g", value)
        if Double(short) == value { return short }
        return String(format: "%1.17g", value)
    }

    /// cJSON's `print_string_ptr`.
    static func writeString(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case ..<0x20: out += Array(String(format: "\\u%04x", Int(byte)).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: - Reading

    /// Parses a whole payload as one JSON value (whitespace around it allowed), or nil when it is not JSON.
    static func parse(_ bytes: [UInt8]) -> CJSON? {
        var reader = Reader(bytes: bytes)
        reader.skipSpace()
        guard let value = reader.value(depth: 0) else { return nil }
        reader.skipSpace()
        return reader.index == bytes.count ? value : nil
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        /// cJSON's nesting limit.
        static let maximumDepth = 1000

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func literal(_ text: String) -> Bool {
            let expected = Array(text.utf8)
            guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected
            else { return false }
            index += expected.count
            return true
        }

        mutating func value(depth: Int) -> CJSON? {
            guard depth < Self.maximumDepth, let byte = current else { return nil }
            switch byte {
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "\""): return string().map(CJSON.string)
            case UInt8(ascii: "["):
                index += 1
                var items: [CJSON] = []
                skipSpace()
                if current == UInt8(ascii: "]") {
                    index += 1
                    return .array(items)
                }
                while true {
                    skipSpace()
                    guard let item = value(depth: depth + 1) else { return nil }
                    items.append(item)
                    skipSpace()
                    if current == UInt8(ascii: ",") {
                        index += 1
                    } else if current == UInt8(ascii: "]") {
                        index += 1
                        return .array(items)
                    } else {
                        return nil
                    }
                }
            case UInt8(ascii: "{"):
                index += 1
                var members: [(key: [UInt8], value: CJSON)] = []
                skipSpace()
                if current == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard current == UInt8(ascii: "\""), let key = string() else { return nil }
                    skipSpace()
                    guard current == UInt8(ascii: ":") else { return nil }
                    index += 1
                    skipSpace()
                    guard let item = value(depth: depth + 1) else { return nil }
                    members.append((key, item))
                    skipSpace()
                    if current == UInt8(ascii: ",") {
                        index += 1
                    } else if current == UInt8(ascii: "}") {
                        index += 1
                        return .object(members)
                    } else {
                        return nil
                    }
                }
            default: return number()
            }
        }

        /// A JSON number (RFC 8259 grammar).
        mutating func number() -> CJSON? {
            let start = index
            func digits() -> Int {
                let from = index
                while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
                return index - from
            }
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                return nil
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return nil }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return nil }
            }
            guard let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)) else { return nil }
            return .number(value)
        }

        /// A string starting at the opening quote; escapes decoded, `\u` to UTF-8 (surrogate pairs joined).
        mutating func string() -> [UInt8]? {
            index += 1
            var out: [UInt8] = []
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""): return out
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { return nil }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard literal("\\u"), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return nil }
                        out += Array(String(Character(unicode)).utf8)
                    default: return nil
                    }
                case ..<0x20: return nil
                default: out.append(byte)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard bytes.count - index >= 4,
                let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
            else { return nil }
            index += 4
            return value
        }
    }
}

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Strict RFC 3339 timestamps as written in a keyring file: `YYYY-MM-DDTHH:MM:SSZ`, UTC, whole seconds.
public enum KeyringTime {
    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds, years 1970-9999). Anything else is rejected.
    ///
    /// - Throws: ``KeyringError`` (``KeyringError/Code-swift.struct/invalidArgument``) saying what is wrong.
    public static func parse(_ text: String) throws(KeyringError) -> Date {
        Date(timeIntervalSince1970: TimeInterval(try parseSeconds(text)))
    }

    /// Formats a date as `YYYY-MM-DDTHH:MM:SSZ` (UTC), truncating to whole seconds.
    public static func format(_ date: Date) -> String {
        format(seconds: seconds(date))
    }

    package static func seconds(_ date: Date) -> Int64 {
        let value = date.timeIntervalSince1970.rounded(.down)
        return Int64(exactly: value) ?? (value < 0 ? 0 : maxSeconds)
    }

    static let maxSeconds: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z

    package static func parseSeconds(_ text: String) throws(KeyringError) -> Int64 {
        let bytes = Array(text.utf8)
        let bad = KeyringError(
            .invalidArgument, "malformed date \(TopicFilter.quoted(text)); expected YYYY-MM-DDTHH:MM:SSZ (UTC)")
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes[19] == UInt8(ascii: "Z")
        else { throw bad }
        func number(_ range: Range<Int>) throws(KeyringError) -> Int64 {
            var value: Int64 = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw bad }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        let year = try number(0..<4)
        let month = try number(5..<7)
        let day = try number(8..<10)
        let hour = try number(11..<13)
        let minute = try number(14..<16)
        let second = try number(17..<19)
        guard year >= 1970, (1...12).contains(month), hour < 24, minute < 60, second < 60 else { throw bad }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1, day <= monthDays[Int(month - 1)] else {
            throw KeyringError(.invalidArgument, "date \(TopicFilter.quoted(text)) names a day that does not exist")
        }
        return daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    package static func format(seconds: Int64) -> String {
        let clamped = min(max(seconds, 0), maxSeconds)
        let days = clamped / 86_400
        let rest = clamped % 86_400
        let (year, month, day) = civilFromDays(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(rest / 3600, 2)):\(pad(rest % 3600 / 60, 2)):"
            + "\(pad(rest % 60, 2))Z"
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Key and signer ids (`kid`, `sid`) as written in a keyring file and on the command line: exactly 8 hexadecimal
/// digits, optionally prefixed with `0x`, never 0.
public enum KeyringID {
    /// Parses `1a2b3c4d` or `0x1A2B3C4D`. Zero, other lengths and non-hex characters are rejected.
    ///
    /// - Throws: ``KeyringError`` (``KeyringError/Code-swift.struct/invalidArgument``).
    public static func parse(_ text: String) throws(KeyringError) -> UInt32 {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard digits.utf8.count == 8, digits.utf8.allSatisfy({ isHexDigit($0) }),
            let value = UInt32(digits, radix: 16)
        else {
            throw KeyringError(
                .invalidArgument, "malformed id \(TopicFilter.quoted(text)); expected 8 hex digits, e.g. 1a2b3c4d")
        }
        guard value != 0 else { throw KeyringError(.invalidArgument, "id 00000000 is reserved") }
        return value
    }

    /// Formats an id as 8 lowercase hex digits.
    public static func format(_ id: UInt32) -> String {
        let text = String(id, radix: 16)
        return String(repeating: "0", count: 8 - text.count) + text
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

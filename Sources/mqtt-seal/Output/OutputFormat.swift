import Foundation
import MQTT

/// One received message as `sub` prints it.
struct PrintedMessage: Sendable {
    var topic: String
    var payload: [UInt8]
    var qos: MQTTQoS
    var retain: Bool
    var packetIdentifier: UInt16?
    var properties: MQTTProperties
}

/// `sub -F FORMAT`: mosquitto_sub's output format, checked once when the command starts.
///
/// `%` fields: `%t` topic, `%p` payload, `%x` / `%X` payload in lower / upper case hex, `%q` QoS, `%r` retain (0 or
/// 1), `%l` payload length, `%m` packet identifier, `%I` ISO 8601 local time, `%U` Unix time with nanoseconds, `%j`
/// JSON with the payload as a string, `%J` JSON with the payload as JSON, `%%`; the MQTT 5 properties `%A` topic
/// alias, `%C` content type, `%D` correlation data, `%E` message expiry, `%F` payload format, `%P` user properties,
/// `%R` response topic, `%S` subscription identifier. A field takes mosquitto's flags: `-` (left-align), `0`
/// (zero-pad), a width and a precision (`%-20t`, `%05l`, `%.10t`). `@X` is `strftime`'s `%X` (`@@` is `@`, `@N`
/// nanoseconds); `\n \t \r \a \e \v \0 \\` are escapes. A newline ends each message unless `-N`.
struct OutputFormat: Sendable {
    /// A `%` field.
    enum Field: UInt8, Sendable {
        case percent = 0x25  // %
        case topicAlias = 0x41  // A
        case contentType = 0x43  // C
        case correlationData = 0x44  // D
        case messageExpiry = 0x45  // E
        case payloadFormat = 0x46  // F
        case isoTime = 0x49  // I
        case json = 0x6A  // j
        case jsonPayload = 0x4A  // J
        case length = 0x6C  // l
        case packetIdentifier = 0x6D  // m
        case userProperties = 0x50  // P
        case payload = 0x70  // p
        case qos = 0x71  // q
        case responseTopic = 0x52  // R
        case retain = 0x72  // r
        case subscriptionIdentifier = 0x53  // S
        case topic = 0x74  // t
        case unixTime = 0x55  // U
        case hexLower = 0x78  // x
        case hexUpper = 0x58  // X
    }

    /// Flags, width and precision of a field.
    struct Spec: Sendable, Equatable {
        var leftAlign = false
        var zeroPad = false
        var width = 0
        var precision: Int?
    }

    enum Piece: Sendable {
        case literal([UInt8])
        case field(Field, Spec)
        /// `@X`: one `strftime` conversion (`N`: nanoseconds).
        case time(UInt8)
    }

    let pieces: [Piece]
    let pretty: Bool

    /// Parses `text`; a bad specifier or escape is refused with mosquitto's reason (exit 64).
    init(_ text: String, pretty: Bool) throws(CLIFailure) {
        self.pretty = pretty
        let bytes = Array(text.utf8)
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal = []
        }
        let incomplete = CLIFailure(.usage, "sub: -F \(BrokerOptions.quoted(text)) ends in an incomplete specifier")
        var index = 0
        func digit(_ at: Int) -> Int? {
            at < bytes.count && (0x30...0x39).contains(bytes[at]) ? Int(bytes[at] - 0x30) : nil
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "%"):
                var spec = Spec()
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
                    spec.leftAlign = true
                    index += 1
                }
                if index < bytes.count, bytes[index] == UInt8(ascii: "0") {
                    spec.zeroPad = true
                    index += 1
                }
                while let value = digit(index) {
                    spec.width = min(spec.width * 10 + value, 100_000)
                    index += 1
                }
                if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                    index += 1
                    var precision = 0
                    while let value = digit(index) {
                        precision = min(precision * 10 + value, 100_000)
                        index += 1
                    }
                    spec.precision = precision
                }
                guard index < bytes.count else { throw incomplete }
                guard let field = Field(rawValue: bytes[index]) else {
                    throw CLIFailure(
                        .usage,
                        "sub: -F has an unknown specifier '%\(Self.character(bytes[index]))' (see --help for the list)")
                }
                flush()
                pieces.append(field == .percent ? .literal([UInt8(ascii: "%")]) : .field(field, spec))
            case UInt8(ascii: "@"):
                index += 1
                guard index < bytes.count else { throw incomplete }
                if bytes[index] == UInt8(ascii: "@") {
                    literal.append(UInt8(ascii: "@"))
                } else {
                    flush()
                    pieces.append(.time(bytes[index]))
                }
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else {
                    throw CLIFailure(.usage, "sub: -F \(BrokerOptions.quoted(text)) ends in an incomplete escape")
                }
                let escapes: [UInt8: UInt8] = [
                    UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "0"): 0, UInt8(ascii: "a"): 0x07, UInt8(ascii: "e"): 0x1B,
                    UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09, UInt8(ascii: "v"): 0x0B,
                ]
                guard let escaped = escapes[bytes[index]] else {
                    throw CLIFailure(.usage, "sub: -F has an unknown escape '\\\(Self.character(bytes[index]))'")
                }
                literal.append(escaped)
            default:
                literal.append(byte)
            }
            index += 1
        }
        flush()
        self.pieces = pieces
    }

    private static func character(_ byte: UInt8) -> String {
        byte < 0x80 ? String(UnicodeScalar(byte)) : String(format: "\\x%02x", Int(byte))
    }

    /// The reason a message could not be formatted.
    enum RenderFailure: Error, Equatable {
        /// `%J` and a payload that is not JSON.
        case payloadNotJSON
    }

    /// The bytes for one message, at the time `now` (`clock_gettime(CLOCK_REALTIME)`).
    func render(_ message: PrintedMessage, now: timespec) throws(RenderFailure) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.payload.count + message.topic.utf8.count + 16)
        let time = LocalTime(now)
        for piece in pieces {
            switch piece {
            case .literal(let bytes): out += bytes
            case .time(let conversion):
                if conversion == UInt8(ascii: "N") {
                    out += Array(String(format: "%09ld", now.tv_nsec).utf8)
                } else {
                    out += time.strftime("%" + String(UnicodeScalar(conversion)))
                }
            case .field(let field, let spec):
                try render(field, spec, message, time: time, now: now, into: &out)
            }
        }
        return out
    }

    private func render(
        _ field: Field, _ spec: Spec, _ message: PrintedMessage, time: LocalTime, now: timespec,
        into out: inout [UInt8]
    ) throws(RenderFailure) {
        let properties = message.properties
        switch field {
        case .percent: out.append(UInt8(ascii: "%"))
        case .topic: Self.string(Array(message.topic.utf8), spec, into: &out)
        case .payload: Self.payload(message.payload, hex: nil, spec, into: &out)
        case .hexLower: Self.payload(message.payload, hex: "%02x", spec, into: &out)
        case .hexUpper: Self.payload(message.payload, hex: "%02X", spec, into: &out)
        case .qos: out.append(UInt8(ascii: "0") + message.qos.rawValue)
        case .retain: out.append(UInt8(ascii: message.retain ? "1" : "0"))
        case .length: Self.integer(message.payload.count, spec, into: &out)
        case .packetIdentifier: Self.integer(Int(message.packetIdentifier ?? 0), spec, into: &out)
        case .isoTime: Self.string(time.strftime("%FT%T%z"), spec, into: &out)
        case .unixTime: out += Array("\(now.tv_sec).\(String(format: "%09ld", now.tv_nsec))".utf8)
        case .json, .jsonPayload:
            out += try json(message, time: time, now: now, parsePayload: field == .jsonPayload).written(pretty: pretty)
        case .topicAlias: Self.optionalInteger(properties.topicAlias.map(Int.init), spec, into: &out)
        case .messageExpiry: Self.optionalInteger(properties.messageExpiryInterval.map(Int.init), spec, into: &out)
        case .payloadFormat:
            Self.optionalInteger(properties.payloadFormatIndicator.map { Int($0.rawValue) }, spec, into: &out)
        case .subscriptionIdentifier:
            Self.optionalInteger(properties.subscriptionIdentifiers.first.map(Int.init), spec, into: &out)
        case .contentType:
            if let text = properties.contentType {
                Self.string(Array(text.utf8), spec, into: &out)
            } else {
                out += [UInt8](repeating: UInt8(ascii: " "), count: spec.width)
            }
        case .responseTopic:
            if let text = properties.responseTopic { Self.string(Array(text.utf8), spec, into: &out) }
        case .correlationData:
            if let data = properties.correlationData { out += data }
        case .userProperties:
            let pairs = properties.userProperties.map { "\($0.name):\($0.value)" }
            out += Array(pairs.joined(separator: " ").utf8)
        }
    }

    /// mosquitto's JSON object: tst, topic, qos, retain, payloadlen, mid (QoS > 0), properties (MQTT 5), payload.
    func json(
        _ message: PrintedMessage, time: LocalTime, now: timespec, parsePayload: Bool
    ) throws(RenderFailure)
        -> CJSON
    {
        var stamp = time.strftime("%Y-%m-%dT%H:%M:%S.")
        stamp += Array(String(format: "%06d", Int(now.tv_nsec / 1000)).utf8)
        stamp += Array("Z".utf8) + time.strftime("%z")
        var members: [(key: [UInt8], value: CJSON)] = [
            (Array("tst".utf8), .string(stamp)),
            (Array("topic".utf8), .string(Array(message.topic.utf8))),
            (Array("qos".utf8), .number(Double(message.qos.rawValue))),
            (Array("retain".utf8), .number(message.retain ? 1 : 0)),
            (Array("payloadlen".utf8), .number(Double(message.payload.count))),
        ]
        if message.qos != .atMostOnce {
            members.append((Array("mid".utf8), .number(Double(message.packetIdentifier ?? 0))))
        }
        if let properties = Self.json(message.properties) { members.append((Array("properties".utf8), properties)) }
        if parsePayload {
            guard let value = CJSON.parse(message.payload) else { throw .payloadNotJSON }
            members.append((Array("payload".utf8), value))
        } else {
            members.append((Array("payload".utf8), .string(message.payload)))
        }
        return .object(members)
    }

    /// The PUBLISH properties under mosquitto's names, or nil when there are none.
    static func json(_ properties: MQTTProperties) -> CJSON? {
        var members: [(key: [UInt8], value: CJSON)] = []
        func add(_ name: String, _ value: CJSON) { members.append((Array(name.utf8), value)) }
        if let value = properties.payloadFormatIndicator {
            add("payload-format-indicator", .number(Double(value.rawValue)))
        }
        if let value = properties.messageExpiryInterval { add("message-expiry-interval", .number(Double(value))) }
        if let value = properties.contentType { add("content-type", .string(Array(value.utf8))) }
        if let value = properties.responseTopic { add("response-topic", .string(Array(value.utf8))) }
        if let value = properties.correlationData { add("correlation-data", .string(value)) }
        for value in properties.subscriptionIdentifiers { add("subscription-identifier", .number(Double(value))) }
        if let value = properties.topicAlias { add("topic-alias", .number(Double(value))) }
        if !properties.userProperties.isEmpty {
            add(
                "user-properties",
                .object(properties.userProperties.map { (Array($0.name.utf8), CJSON.string(Array($0.value.utf8))) }))
        }
        return members.isEmpty ? nil : .object(members)
    }

    // MARK: - Fields as mosquitto pads them

    private static func padding(_ count: Int, _ byte: UInt8 = UInt8(ascii: " ")) -> [UInt8] {
        [UInt8](repeating: byte, count: max(0, count))
    }

    /// `printf("%-*.*s")`: precision cuts, width pads with spaces.
    static func string(_ bytes: [UInt8], _ spec: Spec, into out: inout [UInt8]) {
        let shown = spec.precision.map { Array(bytes.prefix($0)) } ?? bytes
        let pad = padding(spec.width - shown.count)
        out += spec.leftAlign ? shown + pad : pad + shown
    }

    /// `printf("%-*d" / "%0*d")`.
    static func integer(_ value: Int, _ spec: Spec, into out: inout [UInt8]) {
        let digits = Array(String(value).utf8)
        if spec.leftAlign {
            out += digits + padding(spec.width - digits.count)
        } else {
            out += padding(spec.width - digits.count, spec.zeroPad ? UInt8(ascii: "0") : UInt8(ascii: " ")) + digits
        }
    }

    /// An absent integer property: `width` pad characters.
    static func optionalInteger(_ value: Int?, _ spec: Spec, into out: inout [UInt8]) {
        if let value {
            integer(value, spec, into: &out)
        } else {
            out += padding(spec.width, spec.zeroPad ? UInt8(ascii: "0") : UInt8(ascii: " "))
        }
    }

    /// mosquitto's `write_payload`: a width also cuts the payload (for hex to width / 2 bytes).
    static func payload(_ bytes: [UInt8], hex: String?, _ spec: Spec, into out: inout [UInt8]) {
        var count = bytes.count
        var padCount = spec.width - count
        if spec.width > 0 {
            count = min(count, spec.width)
            if hex != nil {
                count /= 2
                padCount = spec.width - count * 2
            } else {
                padCount = spec.width - count
            }
        }
        var body: [UInt8] = []
        if let hex {
            for byte in bytes.prefix(count) { body += Array(String(format: hex, Int(byte)).utf8) }
        } else {
            body = Array(bytes.prefix(count))
        }
        let pad = padding(padCount, spec.zeroPad ? UInt8(ascii: "0") : UInt8(ascii: " "))
        if spec.leftAlign {
            out += body + padding(padCount)
        } else {
            out += pad + body
        }
    }
}

/// The local time of one message (`localtime_r`), for `%I`, `%j` and `@` conversions.
struct LocalTime {
    var parts = tm()

    init(_ now: timespec) {
        var seconds = now.tv_sec
        localtime_r(&seconds, &parts)
    }

    func strftime(_ format: String) -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: 128)
        var copy = parts
        let length = Foundation.strftime(&buffer, buffer.count, format, &copy)
        return buffer.prefix(length).map { UInt8(bitPattern: $0) }
    }
}

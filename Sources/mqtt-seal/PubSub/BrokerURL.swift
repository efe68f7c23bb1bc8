/// `-L URL`: `mqtt://`, `mqtts://`, `ws://` or `wss://`, then `[user[:password]@]host[:port]/topic`, as
/// `mosquitto_pub -L` reads it (the scheme is case-insensitive; nothing is percent-decoded, so `#` and `+` in the
/// topic are taken as they are).
///
/// `mqtts://` and `wss://` turn TLS on, trusting the system's CA certificates unless `--cafile` or `--capath` is
/// given. The default port is the scheme's: 1883, 8883, 80, 443. For `ws://` and `wss://` the path after the host is
/// the topic, as for the other schemes; the WebSocket path is `--ws-path` (default `/mqtt`).
struct BrokerURL: Equatable, Sendable {
    enum Scheme: String, Sendable, CaseIterable {
        case mqtt, mqtts, ws, wss

        var defaultPort: Int {
            switch self {
            case .mqtt: return 1883
            case .mqtts: return 8883
            case .ws: return 80
            case .wss: return 443
            }
        }

        var usesTLS: Bool { self == .mqtts || self == .wss }
        var usesWebSocket: Bool { self == .ws || self == .wss }
    }

    var scheme: Scheme
    var username: String?
    var password: String?
    var host: String
    var port: Int
    var topic: String

    /// Parses `text`; every mistake is one line, exit 64. Without `topicRequired` (the benchmarks and the demo,
    /// which choose their own topics) `mqtt://host:port` is complete and the topic may be empty.
    init(_ text: String, topicRequired: Bool = true) throws(CLIFailure) {
        let shown = BrokerOptions.quoted(Self.redacted(text))
        guard let separator = text.range(of: "://"),
            let scheme = Scheme(rawValue: text[..<separator.lowerBound].lowercased())
        else {
            throw CLIFailure(
                .usage, "-L \(shown): the URL must start with mqtt://, mqtts://, ws:// or wss://")
        }
        var rest = text[separator.upperBound...]
        let topic: String
        if let slash = rest.firstIndex(of: "/") {
            topic = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        } else if topicRequired {
            throw CLIFailure(.usage, "-L \(shown): the topic is missing (mqtt://host/topic)")
        } else {
            topic = ""
        }
        var username: String?
        var password: String?
        // The last @ separates the credentials, so that a password may contain @.
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            if let colon = credentials.firstIndex(of: ":") {
                username = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                username = String(credentials)
            }
            rest = rest[rest.index(after: at)...]
        }
        var host = String(rest)
        var port = scheme.defaultPort
        // [v6]:port or host:port.
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw CLIFailure(.usage, "-L \(shown): an IPv6 address needs a closing ]")
            }
            let after = host[host.index(after: close)...]
            let address = String(host[host.index(after: host.startIndex)..<close])
            if after.hasPrefix(":") {
                port = try Self.port(String(after.dropFirst()), shown)
            } else if !after.isEmpty {
                throw CLIFailure(.usage, "-L \(shown): unexpected text after the ]")
            }
            host = address
        } else if let colon = host.firstIndex(of: ":") {
            port = try Self.port(String(host[host.index(after: colon)...]), shown)
            host = String(host[..<colon])
        }
        if host.isEmpty { throw CLIFailure(.usage, "-L \(shown): the host is missing") }
        if username?.isEmpty == true {
            throw CLIFailure(.usage, "-L \(shown): the user name before @ is empty")
        }
        self.scheme = scheme
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.topic = topic
    }

    /// `text` with any user name and password replaced by `***`, for messages.
    static func redacted(_ text: String) -> String {
        guard let separator = text.range(of: "://") else { return text }
        let authority = text[separator.upperBound...].prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@") else { return text }
        return String(text[..<separator.upperBound]) + "***" + String(text[at...])
    }

    private static func port(_ text: String, _ url: String) throws(CLIFailure) -> Int {
        guard let value = Int(text), (1...65_535).contains(value) else {
            throw CLIFailure(
                .usage, "-L \(url): the port must be a number from 1 to 65535, not '\(text)'")
        }
        return value
    }
}

extension BrokerURL {
    /// `-L` for a command that measures or demonstrates over plain TCP (`bench-mqtt`, `demo`, and `bench` without
    /// TLS files): `mqtt://` only, with `tool`'s reason for refusing the other schemes.
    static func plainTCP(_ text: String, tool: String, allowsTLS: Bool = false) throws(CLIFailure) -> BrokerURL {
        let url = try BrokerURL(text, topicRequired: false)
        if url.scheme.usesWebSocket {
            throw CLIFailure(
                .usage, "\(tool) -L: \(tool) connects over TCP; use mqtt://HOST:PORT, not \(url.scheme)://")
        }
        if url.scheme.usesTLS && !allowsTLS {
            throw CLIFailure(.usage, "\(tool) -L: \(tool) has no TLS options; use mqtt://HOST:PORT")
        }
        return url
    }
}

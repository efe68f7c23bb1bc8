import ArgumentParser
import Foundation
import Logging
import MQTT
import NIOCore

/// The connection flags `pub` and `sub` share, spelled as `mosquitto_pub` / `mosquitto_sub` spell them.
///
/// Values are taken as text and checked in ``resolve(role:)`` so that every bad value ends in one line
/// `mqtt-seal: ...` on stderr and exit 64, instead of ArgumentParser's multi-line usage text.
struct BrokerOptions: ParsableArguments {
    @Option(name: [.customShort("h"), .long], help: "The broker host (default localhost).")
    var host: String?

    @Option(
        name: [.customShort("L"), .customLong("url")],
        help: ArgumentHelp(
            "The broker and topic as one URL: mqtt(s)://[user[:password]@]host[:port]/topic, or ws(s)://.",
            discussion: "mqtts:// and wss:// turn TLS on (the system's CA certificates unless --cafile or --capath).",
            valueName: "url"))
    var url: String?

    @Option(
        help: ArgumentHelp(
            "The HTTP path of the WebSocket upgrade with -L ws:// or wss:// (default /mqtt).", valueName: "path"))
    var wsPath: String?

    @Option(
        help: ArgumentHelp(
            "Connect through this Unix domain socket instead of TCP (-h names the host for TLS).", valueName: "path"))
    var unix: String?

    @Option(
        name: [.customShort("A"), .customLong("bind-address")],
        help: ArgumentHelp("Connect from this local IP address.", valueName: "address"))
    var bindAddress: String?

    // Numeric values parse unconditionally, so that `-p -1` reaches the range check (one line, exit 64) instead of
    // being taken for a flag.
    @Option(
        name: [.customShort("p"), .long], parsing: .unconditional,
        help: "The broker port (default 1883, or 8883 with TLS, as mosquitto_pub does).")
    var port: String?

    @Option(name: [.customShort("i"), .long], help: "The client id (default: mqtt-seal-<command>-<random>).")
    var id: String?

    @Option(
        name: [.customShort("I"), .customLong("id-prefix")],
        help: ArgumentHelp("The client id is this prefix followed by the process id.", valueName: "prefix"))
    var idPrefix: String?

    @Option(name: [.customShort("u"), .long], help: "The user name.")
    var username: String?

    @Option(name: [.customShort("P"), .customLong("pw")], help: "The password.")
    var password: String?

    @Option(
        name: [.customShort("k"), .long], parsing: .unconditional,
        help: "Keepalive in seconds (0-65535; 0 disables it).")
    var keepalive: String = "60"

    @Option(
        name: [.customShort("V"), .customLong("protocol-version")],
        help: "The MQTT version: mqttv311 (or 311) or mqttv5 (or 5).")
    var protocolVersion: String = "mqttv311"

    @Option(help: "PEM file with the CA certificates to trust; turns TLS on.")
    var cafile: String?

    @Option(
        help: ArgumentHelp(
            "A folder of PEM CA certificates named by subject hash (openssl rehash); turns TLS on.",
            valueName: "folder"))
    var capath: String?

    @Flag(help: "Turn TLS on and trust the system's default CA certificates.")
    var tlsUseOsCerts = false

    @Option(
        help: ArgumentHelp(
            "The oldest TLS version to accept: tlsv1.2 (the default) or tlsv1.3.", valueName: "version"))
    var tlsVersion: String?

    @Option(help: "PEM file with the client certificate (mutual TLS; needs --key).")
    var cert: String?

    @Option(help: "PEM file with the client's private key (needs --cert).")
    var key: String?

    @Flag(help: "INSECURE: do not check that the server certificate names the host (the chain is still checked).")
    var insecure = false

    @Option(
        parsing: .unconditional, help: "Seconds to wait for TCP, TLS and CONNACK before giving up with exit 74 (1-600)."
    )
    var connectTimeout: String = "10"

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "The largest MQTT packet to send or accept, in bytes (default and most: 268435460, the MQTT limit).",
            discussion:
                "Announced to an MQTT 5 broker as Maximum Packet Size; a larger -f file is refused before it is read."))
    var maxPacketSize: String?

    @Flag(name: [.customShort("d"), .long], help: "Print connection and subscription events on stderr.")
    var debug = false

    @Flag(help: "Print no error messages on stderr (the exit code still tells what happened).")
    var quiet = false

    @Flag(help: "Disable Nagle's algorithm (always the case: mqtt-seal sets TCP_NODELAY on every connection).")
    var nodelay = false

    @Flag(
        help: ArgumentHelp(
            "Exit 74 when the connection is lost instead of reconnecting.",
            discussion:
                "By default a lost connection is made again with exponential backoff (0.1 s doubling to 30 s, with "
                + "jitter), resuming the session; QoS 1/2 messages in flight are sent again."))
    var noReconnect = false

    @OptionGroup var session: SessionOptions

    @OptionGroup var will: WillOptions

    @OptionGroup var properties: PropertyOptions

    @OptionGroup var refused: RefusedOptions

    /// `--quiet` takes effect as soon as the flags are parsed, for every error that follows.
    func validate() throws {
        if quiet { StandardStreams.quiet.store(true, ordering: .relaxed) }
    }

    /// The broker endpoint as resolved (for messages).
    struct Resolved: Sendable {
        var configuration: MQTTClientConfiguration
        /// The topic of `-L`, if given.
        var urlTopic: String?
        /// The `-D` properties of PUBLISH, SUBSCRIBE and UNSUBSCRIBE.
        var properties: PropertyOptions.Properties
        var endpoint: String {
            configuration.unixSocketPath ?? "\(configuration.host):\(configuration.port)"
        }
    }

    /// Checks every value and builds the client configuration. A lost connection is made again (the library's
    /// backoff and jitter) unless `--no-reconnect`; the first connection is never retried.
    func resolve(role: String) throws(CLIFailure) -> Resolved {
        try refused.check()
        let version = try Self.protocolVersion(protocolVersion)
        let location = try url.map { text throws(CLIFailure) in try BrokerURL(text) }
        if let location {
            let clashes = [("-h", host != nil), ("-p", port != nil), ("--unix", unix != nil)].filter(\.1).map(\.0)
            if let clash = clashes.first { throw CLIFailure(.usage, "-L names the broker; leave out \(clash)") }
            if location.username != nil && username != nil {
                throw CLIFailure(.usage, "-L has a user name; leave out -u")
            }
            if location.password != nil && password != nil {
                throw CLIFailure(.usage, "-L has a password; leave out -P")
            }
        } else if wsPath != nil {
            throw CLIFailure(.usage, "--ws-path needs -L ws://... or wss://...")
        }
        let username = self.username ?? location?.username
        let password = self.password ?? location?.password
        let tlsOn = cafile != nil || capath != nil || tlsUseOsCerts || location?.scheme.usesTLS == true
        if id != nil && idPrefix != nil { throw CLIFailure(.usage, "use -i or -I, not both") }
        if unix != nil && port != nil { throw CLIFailure(.usage, "--unix connects to a socket file; leave out -p") }
        let minimumTLS = try tlsVersion.map { text throws(CLIFailure) -> MQTTTLSVersion in
            guard tlsOn else { throw CLIFailure(.usage, "--tls-version needs TLS (--cafile, --capath or mqtts://)") }
            switch text.lowercased() {
            case "tlsv1.3": return .tls13
            case "tlsv1.2": return .tls12
            case "tlsv1.1", "tlsv1", "tlsv1.0":
                throw CLIFailure(
                    .usage, "--tls-version \(text) is not offered: TLS before 1.2 is insecure; use tlsv1.2 or tlsv1.3")
            default:
                throw CLIFailure(.usage, "--tls-version must be tlsv1.2 or tlsv1.3, not \(Self.quoted(text))")
            }
        }
        if let bindAddress, (try? SocketAddress(ipAddress: bindAddress, port: 0)) == nil {
            throw CLIFailure(.usage, "-A must be a local IP address, not \(Self.quoted(bindAddress))")
        }
        if let unix { try Self.checkSocket(unix) }
        if cert != nil && key == nil { throw CLIFailure(.usage, "--cert needs --key") }
        if key != nil && cert == nil { throw CLIFailure(.usage, "--key needs --cert") }
        if !tlsOn && (cert != nil || insecure) {
            throw CLIFailure(
                .usage, "\(cert != nil ? "--cert" : "--insecure") needs --cafile, --capath or --tls-use-os-certs")
        }
        if password != nil && username == nil && version == .v311 {
            throw CLIFailure(.usage, "-P needs -u with MQTT 3.1.1")
        }
        let portNumber = try port.map { text throws(CLIFailure) in
            try Self.integer(text, flag: "-p", in: 1...65_535)
        }
        let keepAlive = try Self.integer(keepalive, flag: "-k", in: 0...65_535)
        let timeout = try Self.integer(connectTimeout, flag: "--connect-timeout", in: 1...600)
        let packetLimit = try maxPacketSize.map { text throws(CLIFailure) in
            try Self.integer(text, flag: "--max-packet-size", in: 64...MQTTPacket.maximumPacketSize)
        }
        let host = location?.host ?? self.host ?? "localhost"
        if host.isEmpty { throw CLIFailure(.usage, "-h needs a host name") }
        if let idPrefix, idPrefix.utf8.count > 65_000 {
            throw CLIFailure(
                .usage, "-I is \(idPrefix.utf8.count) bytes long; MQTT allows at most 65535 in a client id")
        }
        // MQTT strings are at most 65,535 bytes; the broker would never see a longer id, user name or password.
        for (flag, value) in [("-i", id), ("-u", username), ("-P", password)] {
            if let value, value.utf8.count > 65_535 {
                throw CLIFailure(.usage, "\(flag) is \(value.utf8.count) bytes long; MQTT allows at most 65535")
            }
        }
        for (flag, file) in [("--cafile", cafile), ("--cert", cert), ("--key", key)] {
            if let file { try Self.checkReadable(file, flag: flag) }
        }
        if let capath { try Self.checkFolder(capath, flag: "--capath") }

        var tls: MQTTTLSOptions?
        if tlsOn {
            var options = MQTTTLSOptions(caFile: cafile, certificateFile: cert, privateKeyFile: key)
            options.caDirectory = capath
            options.verifiesHostname = !insecure
            options.minimumVersion = minimumTLS ?? .tls12
            tls = options
        }
        let clientID =
            id ?? idPrefix.map { $0 + String(getpid()) }
            ?? "mqtt-seal-\(role)-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let defaultPort = location?.port ?? (tlsOn ? 8883 : 1883)
        var configuration = MQTTClientConfiguration(
            host: host, port: portNumber ?? defaultPort, protocolVersion: version, clientID: clientID,
            keepAlive: .seconds(keepAlive), username: username, password: password, tls: tls)
        if location?.scheme.usesWebSocket == true {
            let path = wsPath ?? "/mqtt"
            guard path.hasPrefix("/"), !path.contains(where: { $0.isWhitespace }) else {
                throw CLIFailure(.usage, "--ws-path must start with / and hold no spaces, not \(Self.quoted(path))")
            }
            configuration.webSocket = MQTTWebSocketOptions(path: path)
        }
        configuration.localAddress = bindAddress
        configuration.unixSocketPath = unix
        configuration.reconnect = noReconnect ? .disabled : MQTTReconnectPolicy()
        configuration.logger = Self.logger(debug: debug)
        configuration.connectTimeout = .seconds(timeout)
        configuration.requestTimeout = .seconds(timeout)
        if let packetLimit { configuration.maximumPacketSize = packetLimit }
        try session.apply(to: &configuration, clientIDGiven: id != nil || idPrefix != nil)
        configuration.will = try will.will()
        let properties = try self.properties.properties(
            version: version,
            commands: role == "pub" ? [.connect, .will, .publish] : [.connect, .will, .subscribe, .unsubscribe])
        configuration.connectProperties = properties.connect
        if !properties.will.isEmpty {
            guard configuration.will != nil else { throw CLIFailure(.usage, "-D will needs --will-topic") }
            configuration.will?.properties = properties.will
        }
        if let expiry = properties.sessionExpiry {
            if session.sessionExpiry != nil {
                throw CLIFailure(.usage, "-D connect session-expiry-interval and -x say the same: give one")
            }
            configuration.sessionExpiryInterval = .seconds(expiry)
        }
        if let receive = properties.receiveMaximum { configuration.receiveMaximum = receive }
        if let aliases = properties.topicAliasMaximum { configuration.topicAliasMaximum = aliases }
        if let size = properties.maximumPacketSize {
            if maxPacketSize != nil {
                throw CLIFailure(.usage, "-D connect maximum-packet-size and --max-packet-size say the same: give one")
            }
            configuration.maximumPacketSize = Int(size)
        }
        return Resolved(configuration: configuration, urlTopic: location?.topic, properties: properties)
    }

    /// The topics `-t` and `-L` name together (`sub` takes both; `pub` one of them).
    func topics(_ flags: [String], resolved: Resolved) -> [String] {
        flags + (resolved.urlTopic.map { [$0] } ?? [])
    }

    /// Creates the client and connects; every failure becomes a one-line ``CLIFailure``.
    func connect(_ resolved: Resolved, role: String) async throws(CLIFailure) -> MQTTClient {
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: resolved.configuration)
        } catch {
            if let store = error as? MQTTError,
                [.sessionStoreFailed, .sessionStoreMismatch, .invalidArgument].contains(store.code)
            {
                throw CLIFailure(.cannotCreate, "--store: \(Self.detail(store))")
            }
            // The files exist (checked in resolve), so their contents are wrong.
            let reason = Self.detail(error).replacingOccurrences(of: "cannot load TLS files: ", with: "")
            throw CLIFailure(.dataError, "cannot load the TLS files (--cafile, --cert, --key): \(reason)")
        }
        do {
            try await client.connect()
        } catch {
            await client.disconnect()
            throw Self.connectFailure(
                error, endpoint: resolved.endpoint, version: resolved.configuration.protocolVersion)
        }
        if debug {
            let version = resolved.configuration.protocolVersion == .v5 ? "MQTT 5" : "MQTT 3.1.1"
            let tls = resolved.configuration.tls == nil ? "" : " over TLS"
            printError("mqtt-seal \(role): connected to \(resolved.endpoint) (\(version)\(tls))")
        }
        return client
    }

    /// The client's log: silent (errors reach the user as one line), or info and above on stderr with `-d`.
    static func logger(debug: Bool) -> Logger {
        guard debug else { return Logger(label: "mqtt-seal", factory: { _ in SwiftLogNoOpLogHandler() }) }
        var logger = Logger(label: "mqtt-seal", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .info
        return logger
    }

    // MARK: - Values

    /// `-V`: mosquitto's names (`mqttv311`, `mqttv5`) and the short ones (`311`, `5`).
    static func protocolVersion(_ text: String) throws(CLIFailure) -> MQTTProtocolVersion {
        switch text.lowercased() {
        case "mqttv311", "311", "v311", "3.1.1": return .v311
        case "mqttv5", "mqttv50", "5", "50", "v5", "5.0": return .v5
        case "mqttv31", "31", "3.1":
            throw CLIFailure(.usage, "-V mqttv31 is not supported: use mqttv311 (311) or mqttv5 (5)")
        default:
            throw CLIFailure(.usage, "-V must be mqttv311 (311) or mqttv5 (5), not '\(text)'")
        }
    }

    /// `-q`: 0, 1 or 2.
    static func qos(_ text: String, flag: String = "-q") throws(CLIFailure) -> MQTTQoS {
        switch text {
        case "0": return .atMostOnce
        case "1": return .atLeastOnce
        case "2": return .exactlyOnce
        default: throw CLIFailure(.usage, "\(flag) must be 0, 1 or 2, not '\(text)'")
        }
    }

    /// A whole number in `range`.
    static func integer(_ text: String, flag: String, in range: ClosedRange<Int>) throws(CLIFailure) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw CLIFailure(
                .usage, "\(flag) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return value
    }

    /// Exit 66 when a file named on the command line does not exist or cannot be read.
    static func checkReadable(_ path: String, flag: String) throws(CLIFailure) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIFailure(.noInput, "\(flag) \(path): no such file")
        }
        if isDirectory.boolValue { throw CLIFailure(.noInput, "\(flag) \(path): is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CLIFailure(.noInput, "\(flag) \(path): not readable")
        }
    }

    /// Exit 66 when a folder named on the command line does not exist or is not a folder.
    static func checkFolder(_ path: String, flag: String) throws(CLIFailure) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIFailure(.noInput, "\(flag) \(path): no such folder")
        }
        if !isDirectory.boolValue { throw CLIFailure(.noInput, "\(flag) \(path): not a folder") }
    }

    /// Exit 66 when `--unix` does not name a socket.
    static func checkSocket(_ path: String) throws(CLIFailure) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CLIFailure(.noInput, "--unix \(path): no such socket") }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw CLIFailure(.noInput, "--unix \(path): not a socket")
        }
    }

    /// Checks, before anything is read, that `path` is a regular file of at most `limit` bytes. Devices, FIFOs and
    /// sockets are refused: their size is unknown and reading them may never end.
    static func checkRegularFile(_ path: String, flag: String, limit: Int) throws(CLIFailure) {
        var info = stat()
        // stat follows symbolic links: a link to a regular file is a regular file.
        guard stat(path, &info) == 0 else { throw CLIFailure(.noInput, "\(flag) \(path): cannot read it") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CLIFailure(.noInput, "\(flag) \(path): not a regular file")
        }
        let size = Int(info.st_size)
        if size > limit {
            throw CLIFailure(
                .dataError, "\(flag) \(path): \(size) bytes is larger than the maximum packet size (\(limit) bytes)")
        }
    }
}

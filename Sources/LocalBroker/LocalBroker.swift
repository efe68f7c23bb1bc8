import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real Debian `mosquitto` (2.0.x) on free loopback ports, configured in its own temporary folder.
///
/// ```swift
/// let broker = try await LocalBroker.start(.init(users: [.init("alice", password: "secret")], tls: true))
/// defer { broker.stopNow() }
/// // connect to 127.0.0.1:broker.plainPort, or TLS on broker.tlsPort!
/// ```
///
/// Listeners (all on 127.0.0.1): plain (``plainPort``); with ``Configuration/tls``: TLS with server
/// authentication (``tlsPort``), mutual TLS with `require_certificate` (``mtlsPort``), and TLS
/// with a server certificate that does not name `localhost` (``mismatchedHostPort``).
///
/// The broker process is started with `posix_spawn`, an empty signal mask and default signal
/// handlers, so `SIGTERM` works from any thread; ``stop()`` falls back to `SIGKILL` after two
/// seconds. Only the process this object started is ever signalled. A broker that is neither
/// stopped nor killed is killed when the object is deinitialised.
public final class LocalBroker: @unchecked Sendable {
    /// The configuration it runs with.
    public let configuration: Configuration
    /// The temporary folder with `mosquitto.conf`, certificates, password, ACL and persistence files.
    public let folder: String
    /// The plain MQTT listener.
    public let plainPort: Int
    /// The TLS listener (server authentication only), or `nil` without TLS.
    public let tlsPort: Int?
    /// The mutual-TLS listener (`require_certificate true`), or `nil` without TLS.
    public let mtlsPort: Int?
    /// A TLS listener whose server certificate only names `wrong.invalid` (hostname mismatch tests).
    public let mismatchedHostPort: Int?
    /// The certificates, or `nil` without TLS.
    public let certificates: Certificates?
    /// The host to connect to: `127.0.0.1`.
    public let host = "127.0.0.1"
    /// The Unix domain socket the broker listens on with ``Configuration/unixSocket`` (plain MQTT, same settings as
    /// ``plainPort``).
    public var unixSocketPath: String { folder + "/run/mqtt.sock" }

    private let mosquitto: String
    private let lock = NSLock()
    private var process: ChildProcess?
    private var stopped = false

    private init(
        configuration: Configuration, folder: String, ports: [Int], certificates: Certificates?, mosquitto: String
    ) {
        self.configuration = configuration
        self.folder = folder
        self.plainPort = ports[0]
        self.tlsPort = configuration.tls ? ports[1] : nil
        self.mtlsPort = configuration.tls ? ports[2] : nil
        self.mismatchedHostPort = configuration.tls ? ports[3] : nil
        self.certificates = certificates
        self.mosquitto = mosquitto
    }

    deinit {
        if let process = lock.withLock({ self.process }) {
            process.signal(SIGKILL)
            _ = process.status()
        }
    }

    /// Writes the configuration, makes certificates if asked, starts mosquitto and waits
    /// (at most 10 s) until every listener accepts connections.
    public static func start(_ configuration: Configuration = .init()) async throws -> LocalBroker {
        let mosquitto = try findExecutable("mosquitto", environmentOverride: "MOSQUITTO")
        let folder = try makeFolder()
        let certificates: Certificates? =
            configuration.tls ? try await Certificates.make(in: folder) : nil
        try await writeFiles(configuration, folder: folder)
        var lastError: Error = LocalBrokerError(.noFreePort, "no attempt made")
        for _ in 0..<5 {
            let ports = try freePorts(count: configuration.tls ? 4 : 1)
            let broker = LocalBroker(
                configuration: configuration, folder: folder, ports: ports + [0, 0, 0], certificates: certificates,
                mosquitto: mosquitto)
            do {
                try broker.writeConfig()
                try await broker.launch()
                return broker
            } catch let error as LocalBrokerError where error.code == .brokerDidNotStart {
                lastError = error
                // Most likely a port collision with another process: try other ports.
                if !error.reason.contains("in use") { break }
            }
        }
        throw lastError
    }

    /// The mosquitto log so far (everything the broker wrote to stdout and stderr).
    public var log: String {
        (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
    }

    /// Whether the broker process runs.
    public var isRunning: Bool { lock.withLock { process }?.isRunning ?? false }

    /// The broker's process id, while it runs.
    public var pid: Int32? {
        guard let process = lock.withLock({ process }), process.isRunning else { return nil }
        return process.pid
    }

    /// Kills the broker with `SIGKILL` (a crash: nothing is saved beyond the last autosave).
    /// ``restart()`` starts it again on the same ports.
    public func kill() async {
        guard let process = lock.withLock({ self.process }) else { return }
        _ = await process.killNow()
    }

    /// Stops the broker if it runs (graceful `SIGTERM`, which saves persistence) and starts it
    /// again with the same configuration, ports and files. Waits until it accepts connections.
    public func restart() async throws {
        let current = lock.withLock { () -> ChildProcess? in
            stopped ? nil : process
        }
        if lock.withLock({ stopped }) { throw LocalBrokerError(.invalidState, "restart after stop") }
        if let current { _ = await current.terminate() }
        try await launch()
    }

    /// Stops the broker: `SIGTERM`, then `SIGKILL` after two seconds; waits until the process is
    /// gone and removes the temporary folder. Returns the exit status.
    @discardableResult
    public func stop() async -> Int32 {
        let current = lock.withLock { () -> ChildProcess? in
            stopped = true
            return process
        }
        let status = await current?.terminate() ?? 0
        try? FileManager.default.removeItem(atPath: folder)
        return status
    }

    /// Stops synchronously with `SIGKILL` (for `defer` blocks) and removes the folder.
    public func stopNow() {
        let current = lock.withLock { () -> ChildProcess? in
            stopped = true
            return process
        }
        if let current {
            current.signal(SIGKILL)
            var raw: Int32 = 0
            if current.status() == nil { _ = waitpid(current.pid, &raw, 0) }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    // MARK: - Internals

    var logFile: String { folder + "/mosquitto.log" }
    var configFile: String { folder + "/mosquitto.conf" }

    private func launch() async throws {
        // Line-buffer mosquitto's stdout so that the log file is current (crash tests read it).
        let process: ChildProcess
        if let stdbuf = try? findExecutable("stdbuf") {
            process = try ChildProcess.spawn(stdbuf, ["-oL", mosquitto, "-c", configFile], outputFile: logFile)
        } else {
            process = try ChildProcess.spawn(mosquitto, ["-c", configFile], outputFile: logFile)
        }
        lock.withLock { self.process = process }
        let ports = [plainPort, tlsPort, mtlsPort, mismatchedHostPort].compactMap { $0 }
        // A deadline, not a speed requirement: on a loaded 2-core machine many brokers start at once.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            if let status = process.status() {
                let output = log
                let inUse = output.contains("Address already in use") ? " (address in use)" : ""
                throw LocalBrokerError(.brokerDidNotStart, "mosquitto exited with \(status)\(inUse): \(output)")
            }
            if ports.allSatisfy({ Self.accepts(port: $0) }) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        _ = await process.killNow()
        throw LocalBrokerError(.brokerDidNotStart, "mosquitto did not accept connections in 30 s: \(log)")
    }

    private func writeConfig() throws {
        var lines: [String] = [
            "# written by LocalBroker",
            "per_listener_settings false",
            "allow_anonymous \(configuration.allowAnonymous)",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            "set_tcp_nodelay true",
        ]
        if !configuration.users.isEmpty { lines.append("password_file \(folder)/passwd") }
        if configuration.acl != nil { lines.append("acl_file \(folder)/acl") }
        if let value = configuration.maxInflightMessages { lines.append("max_inflight_messages \(value)") }
        if let value = configuration.maxQueuedMessages { lines.append("max_queued_messages \(value)") }
        if !configuration.anonymousDeniedTopics.isEmpty {
            lines += [
                "plugin \(try Self.dynamicSecurityPlugin())",
                "plugin_opt_config_file \(folder)/dynamic-security.json",
            ]
        }
        if configuration.persistence {
            lines += [
                "persistence true",
                "persistence_location \(folder)/data/",
                "autosave_interval \(configuration.autosaveInterval)",
                "autosave_on_changes \(configuration.autosaveOnChanges)",
            ]
        }
        lines += ["", "listener \(plainPort) 127.0.0.1"]
        if configuration.unixSocket { lines += ["", "listener 0 \(unixSocketPath)"] }
        if let certificates, let tlsPort, let mtlsPort, let mismatchedHostPort {
            lines += [
                "", "listener \(tlsPort) 127.0.0.1",
                "cafile \(certificates.caFile)", "certfile \(certificates.serverCert)",
                "keyfile \(certificates.serverKey)", "require_certificate false",
                "", "listener \(mtlsPort) 127.0.0.1",
                "cafile \(certificates.caFile)", "certfile \(certificates.serverCert)",
                "keyfile \(certificates.serverKey)", "require_certificate true",
                "", "listener \(mismatchedHostPort) 127.0.0.1",
                "cafile \(certificates.caFile)", "certfile \(certificates.mismatchedServerCert)",
                "keyfile \(certificates.mismatchedServerKey)", "require_certificate false",
            ]
        }
        for bridge in configuration.bridges {
            lines += [
                "", "connection \(bridge.name)", "address 127.0.0.1:\(bridge.remotePort)",
                "bridge_protocol_version \(bridge.protocolVersion.rawValue)", "cleansession false",
                "restart_timeout 1 5", "try_private false",
            ]
            if let user = bridge.remoteUsername { lines.append("remote_username \(user)") }
            if let password = bridge.remotePassword { lines.append("remote_password \(password)") }
            for topic in bridge.topics { lines.append("topic \(topic)") }
        }
        lines += configuration.extraConfiguration
        try write(lines.joined(separator: "\n") + "\n", to: configFile)
    }

    private static func writeFiles(_ configuration: Configuration, folder: String) async throws {
        if !configuration.users.isEmpty {
            let passwd = try findExecutable("mosquitto_passwd")
            let file = folder + "/passwd"
            try write("", to: file)
            for user in configuration.users {
                _ = try await runTool(passwd, ["-b", file, user.name, user.password], in: folder)
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        }
        if !configuration.anonymousDeniedTopics.isEmpty {
            let acls = configuration.anonymousDeniedTopics.flatMap { topic in
                ["subscribePattern", "publishClientSend"].map { type in
                    ["acltype": type, "topic": topic, "priority": 0, "allow": false] as [String: Any]
                }
            }
            let document: [String: Any] = [
                "defaultACLAccess": [
                    "publishClientSend": true, "publishClientReceive": true, "subscribe": true, "unsubscribe": true,
                ],
                "clients": [] as [Any],
                "groups": [["groupname": "anonymous", "roles": [["rolename": "denials"]], "clients": [] as [Any]]],
                "roles": [["rolename": "denials", "acls": acls]],
                "anonymousGroup": "anonymous",
            ]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
            try write(String(decoding: data, as: UTF8.self), to: folder + "/dynamic-security.json")
        }
        if let acl = configuration.acl {
            try write(acl.fileText, to: folder + "/acl")
        }
        if configuration.unixSocket {
            let run = folder + "/run"
            do {
                try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
                // Writable for user `mosquitto`, which makes the socket there.
                try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: run)
            } catch {
                throw LocalBrokerError(.fileSystem, "cannot create \(run): \(error)")
            }
        }
        if configuration.persistence {
            let data = folder + "/data"
            do {
                try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
                // Writable for user `mosquitto`, which a broker started as root switches to.
                try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: data)
            } catch {
                throw LocalBrokerError(.fileSystem, "cannot create \(data): \(error)")
            }
        }
    }

    private static func dynamicSecurityPlugin() throws -> String {
        let name = "mosquitto_dynamic_security.so"
        let folders = [
            "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib",
            "/opt/homebrew/lib",
        ]
        for folder in folders where FileManager.default.fileExists(atPath: folder + "/" + name) {
            return folder + "/" + name
        }
        throw LocalBrokerError(.executableNotFound, "\(name) not found")
    }

    private static func makeFolder() throws -> String {
        let base = FileManager.default.temporaryDirectory.path
        let folder = base + "/local-broker-" + UUID().uuidString
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder)
        } catch {
            throw LocalBrokerError(.fileSystem, "cannot create \(folder): \(error)")
        }
        return folder
    }

    /// Binds `count` sockets to port 0 on 127.0.0.1 at once (so the ports differ), reads the ports, closes.
    public static func freePorts(count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        var ports: [Int] = []
        for _ in 0..<count {
            #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard fd >= 0 else { throw LocalBrokerError(.noFreePort, "socket() failed: \(errno)") }
            sockets.append(fd)
            var address = loopback(port: 0)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { throw LocalBrokerError(.noFreePort, "bind() failed: \(errno)") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else { throw LocalBrokerError(.noFreePort, "getsockname() failed: \(errno)") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    /// Whether a TCP connection to 127.0.0.1:`port` succeeds now.
    static func accepts(port: Int) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A RabbitMQ node (Debian's `rabbitmq-server` 3.10, with the `rabbitmq_mqtt` plugin) on loopback ports, in its own
/// temporary folder, for interop tests against a broker that is not mosquitto.
///
/// RabbitMQ speaks MQTT 3.1.1 only and downgrades QoS 2 to QoS 1 (it answers a QoS 2 PUBLISH with PUBACK). Every
/// listener (AMQP, distribution, MQTT) binds to 127.0.0.1; epmd is asked to listen on 127.0.0.1 only. As root the
/// Debian wrapper runs the node as the `rabbitmq` user, so the folder is handed to that user; any other user runs
/// `/usr/lib/rabbitmq/bin/rabbitmq-server` directly. A node takes 10-30 s
/// to start on a 2-core machine: start one per test suite, not per test.
public final class LocalRabbitMQ: @unchecked Sendable {
    /// The node's MQTT port on 127.0.0.1.
    public let mqttPort: Int
    /// With `webMQTT`: the `rabbitmq_web_mqtt` listener (MQTT over WebSocket, `ws://127.0.0.1:PORT/ws`).
    public let webSocketPort: Int?
    /// With `webMQTT`: the same over TLS (`wss://`), with ``certificates``' server certificate, asking for a client
    /// certificate signed by their CA and refusing a connection without one.
    public let secureWebSocketPort: Int?
    /// With `webMQTT`: the test PKI of the TLS listener.
    public let certificates: LocalBroker.Certificates?
    /// The request path of the WebSocket listeners.
    public let webSocketPath = "/ws"
    /// The loopback address.
    public let host = "127.0.0.1"
    /// The node's folder (configuration, database, logs).
    public let folder: String
    private let nodeName: String
    private let wrapper: ChildProcess
    private let lock = NSLock()
    private var stopped = false

    private init(
        mqttPort: Int, webSockets: (plain: Int, tls: Int, certificates: LocalBroker.Certificates)?, folder: String,
        nodeName: String, wrapper: ChildProcess
    ) {
        self.mqttPort = mqttPort
        self.webSocketPort = webSockets?.plain
        self.secureWebSocketPort = webSockets?.tls
        self.certificates = webSockets?.certificates
        self.folder = folder
        self.nodeName = nodeName
        self.wrapper = wrapper
    }

    /// Starts a node and waits (bounded, 90 s) until its MQTT listener accepts connections.
    ///
    /// - Parameter webMQTT: Also enable `rabbitmq_web_mqtt` with a plain and a TLS WebSocket listener
    ///   (``webSocketPort``, ``secureWebSocketPort``), and wait for both.
    public static func start(webMQTT: Bool = false) async throws -> LocalRabbitMQ {
        // Debian's /usr/sbin wrapper runs the node only as root (switching to `rabbitmq`) or as `rabbitmq`; any other
        // user runs the real script directly, with its own Erlang cookie in $HOME.
        let direct = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        let server =
            getuid() != 0 && FileManager.default.isExecutableFile(atPath: direct)
            ? direct : try findExecutable("rabbitmq-server")
        let environment = try findExecutable("env")
        let ports = try LocalBroker.freePorts(count: webMQTT ? 5 : 3)
        let name = "sealtest-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let folder = FileManager.default.temporaryDirectory.path + "/local-rabbitmq-" + UUID().uuidString
        do {
            for sub in ["", "/mnesia", "/log"] {
                try FileManager.default.createDirectory(atPath: folder + sub, withIntermediateDirectories: true)
            }
            var configuration = """
                listeners.tcp.default = 127.0.0.1:\(ports[0])
                mqtt.listeners.tcp.default = 127.0.0.1:\(ports[1])
                mqtt.allow_anonymous = true
                loopback_users = none

                """
            if webMQTT {
                configuration += "web_mqtt.tcp.ip = 127.0.0.1\nweb_mqtt.tcp.port = \(ports[3])\n"
            }
            try configuration.write(toFile: folder + "/rabbitmq.conf", atomically: true, encoding: .utf8)
            let plugins = webMQTT ? "[rabbitmq_mqtt,rabbitmq_web_mqtt].\n" : "[rabbitmq_mqtt].\n"
            try plugins.write(toFile: folder + "/enabled_plugins", atomically: true, encoding: .utf8)
        } catch {
            throw LocalBrokerError(.fileSystem, "cannot prepare \(folder): \(error)")
        }
        var webSockets: (plain: Int, tls: Int, certificates: LocalBroker.Certificates)?
        if webMQTT {
            try? FileManager.default.createDirectory(atPath: folder + "/certs", withIntermediateDirectories: true)
            let certificates = try await LocalBroker.Certificates.make(in: folder + "/certs")
            // rabbitmq.conf has no keys for a required client certificate: the TLS listener is set in Erlang terms.
            let advanced = """
                [{rabbitmq_web_mqtt, [{ssl_config, [{ip, "127.0.0.1"}, {port, \(ports[4])},
                  {cacertfile, "\(certificates.caFile)"}, {certfile, "\(certificates.serverCert)"},
                  {keyfile, "\(certificates.serverKey)"}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]}]}].

                """
            do {
                try advanced.write(toFile: folder + "/advanced.config", atomically: true, encoding: .utf8)
            } catch {
                throw LocalBrokerError(.fileSystem, "cannot prepare \(folder): \(error)")
            }
            webSockets = (ports[3], ports[4], certificates)
        }
        if getuid() == 0, let user = getpwnam("rabbitmq") {
            for path in [
                folder, folder + "/mnesia", folder + "/log", folder + "/rabbitmq.conf", folder + "/enabled_plugins",
                folder + "/advanced.config", folder + "/certs",
            ] {
                _ = chown(path, user.pointee.pw_uid, user.pointee.pw_gid)
            }
        }
        let variables =
            [
                "ERL_EPMD_ADDRESS=127.0.0.1", "RABBITMQ_NODENAME=\(name)@localhost",
                "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
                "RABBITMQ_NODE_PORT=\(ports[0])", "RABBITMQ_DIST_PORT=\(ports[2])",
                "RABBITMQ_MNESIA_BASE=\(folder)/mnesia",
                "RABBITMQ_LOG_BASE=\(folder)/log", "RABBITMQ_ENABLED_PLUGINS_FILE=\(folder)/enabled_plugins",
                "RABBITMQ_CONFIG_FILE=\(folder)/rabbitmq", "RABBITMQ_PID_FILE=\(folder)/mnesia/node.pid",
                "RABBITMQ_FEATURE_FLAGS_FILE=\(folder)/mnesia/feature_flags",
            ] + (webMQTT ? ["RABBITMQ_ADVANCED_CONFIG_FILE=\(folder)/advanced.config"] : [])
        let wrapper = try ChildProcess.spawn(environment, variables + [server], outputFile: folder + "/output.log")
        let node = LocalRabbitMQ(
            mqttPort: ports[1], webSockets: webSockets, folder: folder, nodeName: name, wrapper: wrapper)
        let listeners = [ports[1]] + (webSockets.map { [$0.plain, $0.tls] } ?? [])
        // A deadline, not a speed requirement.
        let deadline = ContinuousClock.now.advanced(by: .seconds(90))
        while ContinuousClock.now < deadline {
            if let status = wrapper.status() {
                let output = wrapper.output()
                node.removeFolder()
                throw LocalBrokerError(.brokerDidNotStart, "rabbitmq-server exited with \(status): \(output)")
            }
            if listeners.allSatisfy(LocalBroker.accepts(port:)) { return node }
            try? await Task.sleep(for: .milliseconds(200))
        }
        await node.stop()
        throw LocalBrokerError(.brokerDidNotStart, "RabbitMQ's MQTT listeners did not accept connections in 90 s")
    }

    /// The Erlang VM's pid, from the pid file the node writes.
    private var nodePID: pid_t? {
        readPIDFile(folder + "/mnesia/node.pid")
    }

    /// Stops the node (SIGTERM to the VM it started, then SIGKILL after 20 s) and removes its folder.
    public func stop() async {
        let alreadyStopped = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        if let pid = nodePID {
            _ = sendSignal(pid, SIGTERM)
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while ContinuousClock.now < deadline, kill(pid, 0) == 0 {
                try? await Task.sleep(for: .milliseconds(100))
            }
            if kill(pid, 0) == 0 { _ = sendSignal(pid, SIGKILL) }
        }
        if await wrapper.wait(timeout: .seconds(10)) == nil { _ = await wrapper.killNow() }
        removeFolder()
    }

    private func removeFolder() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}

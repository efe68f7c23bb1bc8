import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A two-node RabbitMQ 3.10 cluster (Debian's `rabbitmq-server`, `rabbitmq_mqtt` and `rabbitmq_web_mqtt`) on one
/// host, every listener on 127.0.0.1, for tests that need a clustered broker.
///
/// Each node has its own name (`<prefix>-1@localhost`, `<prefix>-2@localhost`), ports and folder under
/// ``folder``; both share one Erlang cookie in `<folder>/home/.erlang.cookie` (each node runs with `HOME` there, and
/// so does `rabbitmqctl`). The nodes start at the same time; once both MQTT listeners accept connections, node 2
/// joins node 1 (`rabbitmqctl stop_app`, `join_cluster`, `start_app`, each with node 2's environment), and
/// ``start()`` returns when node 2's MQTT listener accepts connections again. As root the nodes and `rabbitmqctl`
/// run as the `rabbitmq` user (`runuser`), and the folder is handed to that user. Expect 30-90 s on a 2-core machine:
/// start one cluster per test suite.
///
/// ``kill(node:)`` sends SIGKILL to one node's Erlang VM (a crash); ``stop()`` stops what still runs and removes the
/// folder. RabbitMQ 3.10's MQTT plugin speaks MQTT 3.1.1 only (an MQTT 5 CONNECT is closed without CONNACK) and
/// downgrades QoS 2 to QoS 1.
public final class LocalRabbitMQCluster: @unchecked Sendable {
    /// One node of the cluster.
    public struct Node: Sendable, Hashable {
        /// The Erlang node name, e.g. `sealcluster-x1-1@localhost`.
        public let name: String
        /// The MQTT listener on 127.0.0.1.
        public let mqttPort: Int
        /// The Web MQTT listener (`ws://127.0.0.1:<port>/ws`).
        public let webMQTTPort: Int
        /// The AMQP listener (unused by the tests, but bound to loopback).
        public let amqpPort: Int
        /// The Erlang distribution port.
        public let distributionPort: Int
        /// The node's own folder (configuration, database, logs, pid file).
        public let folder: String

        var pidFile: String { folder + "/mnesia/node.pid" }
    }

    /// The loopback address.
    public let host = "127.0.0.1"
    /// The two nodes; node 2 (index 1) joined node 1 (index 0).
    public let nodes: [Node]
    /// The cluster's folder: `home` (the shared cookie) and one folder per node.
    public let folder: String

    private let server: String
    private let control: String
    private let lock = NSLock()
    private var wrappers: [ChildProcess?]
    private var stopped = false

    private init(nodes: [Node], folder: String, server: String, control: String) {
        self.nodes = nodes
        self.folder = folder
        self.server = server
        self.control = control
        self.wrappers = Array(repeating: nil, count: nodes.count)
    }

    /// Starts both nodes, clusters them and waits (bounded: 120 s for the nodes, 60 s per `rabbitmqctl` step, 60 s for
    /// node 2's listener after the join) until both MQTT listeners accept connections.
    public static func start() async throws -> LocalRabbitMQCluster {
        let server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        let control = "/usr/lib/rabbitmq/bin/rabbitmqctl"
        for executable in [server, control] where !FileManager.default.isExecutableFile(atPath: executable) {
            throw LocalBrokerError(.executableNotFound, "\(executable) not found (apt-get install rabbitmq-server)")
        }
        let prefix = "sealcluster-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let folder = FileManager.default.temporaryDirectory.path + "/local-rabbitmq-cluster-" + UUID().uuidString
        let ports = try LocalBroker.freePorts(count: 8)
        let nodes = (0..<2).map { index in
            Node(
                name: "\(prefix)-\(index + 1)@localhost", mqttPort: ports[index * 4], webMQTTPort: ports[index * 4 + 1],
                amqpPort: ports[index * 4 + 2], distributionPort: ports[index * 4 + 3],
                folder: folder + "/node\(index + 1)")
        }
        let cluster = LocalRabbitMQCluster(nodes: nodes, folder: folder, server: server, control: control)
        do {
            try cluster.writeFiles()
            for index in nodes.indices { try cluster.launch(index) }
            try await cluster.waitForListener(of: [0, 1], seconds: 120)
            let joining = nodes[1]
            for arguments in [["stop_app"], ["join_cluster", nodes[0].name], ["start_app"]] {
                _ = try await cluster.control(on: joining, arguments)
            }
            try await cluster.waitForListener(of: [1], seconds: 60)
            return cluster
        } catch {
            await cluster.stop()
            throw error
        }
    }

    /// Runs `rabbitmqctl -n <node> <arguments>` with the node's environment (bounded, 60 s) and returns its output.
    @discardableResult
    public func control(on node: Node, _ arguments: [String]) async throws -> String {
        let (executable, fullArguments) = command([control, "-n", node.name] + arguments, on: node)
        return try await runTool(executable, fullArguments, in: folder, timeout: .seconds(60))
    }

    /// Whether node `index`'s Erlang VM runs.
    public func isRunning(node index: Int) -> Bool {
        lock.withLock { wrappers[index] }?.isRunning ?? false
    }

    /// Kills node `index`'s Erlang VM with SIGKILL (a crash: its connections drop without DISCONNECT, its queues are
    /// gone until it restarts) and waits (bounded, 20 s) until the node's process has ended.
    public func kill(node index: Int) async {
        let node = nodes[index]
        if let pid = readPIDFile(node.pidFile) { _ = sendSignal(pid, SIGKILL) }
        guard let wrapper = lock.withLock({ wrappers[index] }) else { return }
        if await wrapper.wait(timeout: .seconds(20)) == nil { _ = await wrapper.killNow() }
    }

    /// Stops the nodes that still run (SIGTERM to each VM, SIGKILL after 20 s) and removes the folder.
    public func stop() async {
        let alreadyStopped = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        let running = nodes.indices.filter { isRunning(node: $0) }
        for index in running {
            if let pid = readPIDFile(nodes[index].pidFile) { _ = sendSignal(pid, SIGTERM) }
        }
        for index in running {
            guard let wrapper = lock.withLock({ wrappers[index] }) else { continue }
            if await wrapper.wait(timeout: .seconds(20)) == nil {
                if let pid = readPIDFile(nodes[index].pidFile) { _ = sendSignal(pid, SIGKILL) }
                if await wrapper.wait(timeout: .seconds(10)) == nil { _ = await wrapper.killNow() }
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The output of node `index` (the server script's stdout and stderr), for failure messages.
    public func output(node index: Int) -> String {
        lock.withLock { wrappers[index] }?.output() ?? ""
    }

    // MARK: - Internals

    private func writeFiles() throws {
        let cookie = (0..<32).map { _ in "ABCDEFGHIJKLMNOPQRSTUVWXYZ".randomElement()! }.map(String.init).joined()
        do {
            try FileManager.default.createDirectory(atPath: folder + "/home", withIntermediateDirectories: true)
            try cookie.write(toFile: folder + "/home/.erlang.cookie", atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o400], ofItemAtPath: folder + "/home/.erlang.cookie")
            for node in nodes {
                for sub in ["", "/mnesia", "/log"] {
                    try FileManager.default.createDirectory(
                        atPath: node.folder + sub, withIntermediateDirectories: true)
                }
                try """
                listeners.tcp.default = 127.0.0.1:\(node.amqpPort)
                mqtt.listeners.tcp.default = 127.0.0.1:\(node.mqttPort)
                mqtt.allow_anonymous = true
                web_mqtt.tcp.ip = 127.0.0.1
                web_mqtt.tcp.port = \(node.webMQTTPort)
                loopback_users = none
                """.write(toFile: node.folder + "/rabbitmq.conf", atomically: true, encoding: .utf8)
                try "[rabbitmq_mqtt,rabbitmq_web_mqtt].\n".write(
                    toFile: node.folder + "/enabled_plugins", atomically: true, encoding: .utf8)
            }
        } catch {
            throw LocalBrokerError(.fileSystem, "cannot prepare \(folder): \(error)")
        }
        if getuid() == 0 {
            guard let user = getpwnam("rabbitmq") else {
                throw LocalBrokerError(.executableNotFound, "no user rabbitmq (apt-get install rabbitmq-server)")
            }
            let (uid, gid) = (user.pointee.pw_uid, user.pointee.pw_gid)
            var paths = [folder]
            if let enumerator = FileManager.default.enumerator(atPath: folder) {
                for case let path as String in enumerator { paths.append(folder + "/" + path) }
            }
            for path in paths { _ = chown(path, uid, gid) }
        }
    }

    private func environment(of node: Node) -> [String] {
        // The distribution listens on 127.0.0.1 only (the default is every interface), for the nodes and the CLI.
        let loopbackDistribution = "-kernel inet_dist_use_interface {127,0,0,1}"
        return [
            "HOME=\(folder)/home", "ERL_EPMD_ADDRESS=127.0.0.1", "RABBITMQ_NODENAME=\(node.name)",
            "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1", "RABBITMQ_NODE_PORT=\(node.amqpPort)",
            "RABBITMQ_DIST_PORT=\(node.distributionPort)", "RABBITMQ_MNESIA_BASE=\(node.folder)/mnesia",
            "RABBITMQ_LOG_BASE=\(node.folder)/log", "RABBITMQ_ENABLED_PLUGINS_FILE=\(node.folder)/enabled_plugins",
            "RABBITMQ_CONFIG_FILE=\(node.folder)/rabbitmq", "RABBITMQ_PID_FILE=\(node.pidFile)",
            "RABBITMQ_FEATURE_FLAGS_FILE=\(node.folder)/mnesia/feature_flags",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=\(loopbackDistribution)",
            "RABBITMQ_CTL_ERL_ARGS=\(loopbackDistribution)",
        ]
    }

    /// `env <node's environment> <tail>`; as root under `runuser -u rabbitmq --` (the node must not run as root, and
    /// the folder belongs to `rabbitmq`).
    private func command(_ tail: [String], on node: Node) -> (executable: String, arguments: [String]) {
        let arguments = environment(of: node) + tail
        if getuid() == 0, let runuser = try? findExecutable("runuser") {
            return (runuser, ["-u", "rabbitmq", "--", "env"] + arguments)
        }
        return ((try? findExecutable("env")) ?? "/usr/bin/env", arguments)
    }

    private func launch(_ index: Int) throws {
        let node = nodes[index]
        let (executable, arguments) = command([server], on: node)
        let wrapper = try ChildProcess.spawn(executable, arguments, outputFile: folder + "/node\(index + 1).out")
        lock.withLock { wrappers[index] = wrapper }
    }

    private func waitForListener(of indices: [Int], seconds: Int) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        while ContinuousClock.now < deadline {
            for index in indices where !isRunning(node: index) {
                throw LocalBrokerError(
                    .brokerDidNotStart, "RabbitMQ node \(index + 1) exited: \(output(node: index))")
            }
            let ports = indices.flatMap { [nodes[$0].mqttPort, nodes[$0].webMQTTPort] }
            if ports.allSatisfy({ LocalBroker.accepts(port: $0) }) { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
        throw LocalBrokerError(
            .brokerDidNotStart,
            "RabbitMQ MQTT and Web MQTT listeners of nodes \(indices.map { $0 + 1 }) not ready in \(seconds) s")
    }
}

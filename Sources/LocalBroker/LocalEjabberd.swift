import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An ejabberd 23.01 node (Debian's `ejabberd`) with `mod_mqtt` (MQTT 5.0 and 3.1.1) on loopback ports, in its own
/// temporary folder, for interop tests against a third broker.
///
/// The node runs `ejabberdctl --config-dir <folder> --logs <folder>/log --spool <folder>/db --node <name> foreground`
/// with an `ejabberd.yml`, `ejabberdctl.cfg` (own Erlang cookie, distribution on 127.0.0.1 and a fixed port, so no
/// epmd) and `inetrc` written into ``folder``; the Debian package's own configuration, database and service are not
/// used. As root `ejabberdctl` switches to the `ejabberd` user, so the folder is handed to that user; any other user
/// runs a copy of `ejabberdctl` that stays the current user.
///
/// Authentication is `anonymous` with `login_anon`: a client must send a user name and a password, any pair is
/// accepted (a CONNECT without them is refused with 0x87 Not authorized); use ``username`` and ``password``.
/// `mod_mqtt`'s `max_queue` (5,000 by default: a slow subscriber loses the rest) is raised. A node starts in 1-5 s.
public final class LocalEjabberd: @unchecked Sendable {
    /// The loopback address.
    public let host = "127.0.0.1"
    /// The plain MQTT listener.
    public let mqttPort: Int
    /// The TLS MQTT listener (certificate for `localhost` and `127.0.0.1`, signed by ``certificates``' CA), if asked.
    public let tlsPort: Int?
    /// The certificates of the TLS listener, or `nil` without TLS.
    public let certificates: LocalBroker.Certificates?
    /// The node's folder (configuration, database, logs).
    public let folder: String
    /// The Erlang node name.
    public let nodeName: String
    /// A user name the node accepts (anonymous authentication accepts any).
    public let username = "matrix"
    /// The password for ``username`` (any is accepted).
    public let password = "matrix"
    /// `mod_mqtt`'s `max_queue`: messages queued per session before the broker drops more.
    public let maxQueue: Int

    private let process: ChildProcess
    private let lock = NSLock()
    private var stopped = false

    private init(
        mqttPort: Int, tlsPort: Int?, certificates: LocalBroker.Certificates?, folder: String, nodeName: String,
        maxQueue: Int, process: ChildProcess
    ) {
        self.mqttPort = mqttPort
        self.tlsPort = tlsPort
        self.certificates = certificates
        self.folder = folder
        self.nodeName = nodeName
        self.maxQueue = maxQueue
        self.process = process
    }

    /// Starts a node and waits (bounded, 60 s) until its MQTT listeners accept connections.
    ///
    /// - Parameters:
    ///   - tls: also a TLS listener (``tlsPort``), with certificates made by ``LocalBroker/Certificates``.
    ///   - maxQueue: `mod_mqtt`'s `max_queue`.
    public static func start(tls: Bool = false, maxQueue: Int = 1_000_000) async throws -> LocalEjabberd {
        let installed = try findExecutable("ejabberdctl")
        let folder = FileManager.default.temporaryDirectory.path + "/local-ejabberd-" + UUID().uuidString
        let ports = try LocalBroker.freePorts(count: 3)
        let name = "sealejabberd-" + String(UInt32.random(in: 0...UInt32.max), radix: 36) + "@localhost"
        let cookie = (0..<32).map { _ in "ABCDEFGHIJKLMNOPQRSTUVWXYZ".randomElement()! }.map(String.init).joined()
        var certificates: LocalBroker.Certificates?
        let ejabberdctl: String
        do {
            for sub in ["", "/db", "/log"] {
                try FileManager.default.createDirectory(atPath: folder + sub, withIntermediateDirectories: true)
            }
            if tls {
                try FileManager.default.createDirectory(atPath: folder + "/certs", withIntermediateDirectories: true)
                let made = try await LocalBroker.Certificates.make(in: folder + "/certs")
                let pem =
                    try String(contentsOfFile: made.serverCert, encoding: .utf8)
                    + String(contentsOfFile: made.serverKey, encoding: .utf8)
                try write(pem, to: folder + "/server.pem")
                certificates = made
            }
            var lines = ["# written by LocalEjabberd", "hosts: [\"localhost\"]", "loglevel: info"]
            if tls { lines += ["certfiles:", "  - \"\(folder)/server.pem\""] }
            lines.append("listen:")
            for (port, secure) in [(ports[0], false)] + (tls ? [(ports[1], true)] : []) {
                lines += ["  - port: \(port)", "    ip: \"127.0.0.1\"", "    module: mod_mqtt", "    backlog: 1024"]
                if secure { lines.append("    tls: true") }
            }
            lines += [
                "auth_method: [anonymous]", "anonymous_protocol: login_anon", "allow_multiple_connections: true",
                "acl:", "  local:", "    user_regexp: \"\"", "access_rules:", "  local:", "    allow: all",
                "modules:", "  mod_mqtt:", "    max_queue: \(maxQueue)",
            ]
            try write(lines.joined(separator: "\n") + "\n", to: folder + "/ejabberd.yml")
            try write(
                """
                ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie \(cookie)"
                EJABBERD_PID_PATH=\(folder)/ejabberd.pid
                ERL_EPMD_ADDRESS=127.0.0.1
                ERL_DIST_PORT=\(ports[2])
                INET_DIST_INTERFACE=127.0.0.1
                CONTRIB_MODULES_CONF_DIR=\(folder)/modules.d

                """, to: folder + "/ejabberdctl.cfg")
            try write("{lookup,[\"file\",\"native\"]}.\n{host,{127,0,0,1}, [\"localhost\"]}.\n", to: folder + "/inetrc")
            if getuid() == 0 {
                ejabberdctl = installed
            } else {
                // The installed script refuses any user but root and `ejabberd`; a copy without INSTALLUSER runs as
                // the current user.
                let script = try String(contentsOfFile: installed, encoding: .utf8)
                    .replacingOccurrences(of: "INSTALLUSER=ejabberd", with: "INSTALLUSER=")
                ejabberdctl = folder + "/ejabberdctl"
                try write(script, to: ejabberdctl)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: ejabberdctl)
            }
        } catch let error as LocalBrokerError {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw LocalBrokerError(.fileSystem, "cannot prepare \(folder): \(error)")
        }
        if getuid() == 0 {
            guard let user = getpwnam("ejabberd") else {
                try? FileManager.default.removeItem(atPath: folder)
                throw LocalBrokerError(.executableNotFound, "no user ejabberd (apt-get install ejabberd)")
            }
            var paths = [folder]
            if let enumerator = FileManager.default.enumerator(atPath: folder) {
                for case let path as String in enumerator { paths.append(folder + "/" + path) }
            }
            for path in paths { _ = chown(path, user.pointee.pw_uid, user.pointee.pw_gid) }
        }
        let process = try ChildProcess.spawn(
            ejabberdctl,
            [
                "--config-dir", folder, "--config", folder + "/ejabberd.yml", "--ctl-config",
                folder + "/ejabberdctl.cfg", "--logs", folder + "/log", "--spool", folder + "/db", "--node", name,
                "foreground",
            ], outputFile: folder + "/output.log")
        let node = LocalEjabberd(
            mqttPort: ports[0], tlsPort: tls ? ports[1] : nil, certificates: certificates, folder: folder,
            nodeName: name, maxQueue: maxQueue, process: process)
        let listening = [ports[0]] + (tls ? [ports[1]] : [])
        // A deadline, not a speed requirement.
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while ContinuousClock.now < deadline {
            if let status = process.status() {
                let output = node.log
                try? FileManager.default.removeItem(atPath: folder)
                throw LocalBrokerError(.brokerDidNotStart, "ejabberd exited with \(status): \(output)")
            }
            if listening.allSatisfy({ LocalBroker.accepts(port: $0) }) { return node }
            try? await Task.sleep(for: .milliseconds(100))
        }
        let output = node.log
        await node.stop()
        throw LocalBrokerError(.brokerDidNotStart, "ejabberd's MQTT listeners not ready in 60 s: \(output)")
    }

    /// What the node wrote so far (`ejabberdctl foreground`'s output: the log at `info` level).
    public var log: String { process.output() }

    /// The Erlang VM's pid, from the pid file the node writes.
    public var pid: Int32? {
        readPIDFile(folder + "/ejabberd.pid")
    }

    /// Stops the node (SIGTERM to the VM, SIGKILL after 15 s) and removes its folder.
    public func stop() async {
        let alreadyStopped = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        if process.isRunning, let pid {
            _ = sendSignal(pid, SIGTERM)
            if await process.wait(timeout: .seconds(15)) == nil { _ = sendSignal(pid, SIGKILL) }
        }
        if await process.wait(timeout: .seconds(10)) == nil { _ = await process.killNow() }
        try? FileManager.default.removeItem(atPath: folder)
    }
}

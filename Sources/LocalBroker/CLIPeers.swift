import Foundation

extension LocalBroker {
    /// Which listener a CLI peer connects to.
    public enum Transport: Sendable, Hashable {
        /// ``LocalBroker/plainPort``.
        case plain
        /// ``LocalBroker/tlsPort``, trusting ``Certificates/caFile``.
        case tls
        /// ``LocalBroker/mtlsPort`` with ``Certificates/clientCert`` and ``Certificates/clientKey``.
        case mtls
    }

    /// Options for `mosquitto_pub` / `mosquitto_sub`.
    public struct CLIOptions: Sendable, Hashable {
        /// The listener.
        public var transport: Transport
        /// `mqttv5`, `mqttv311` or `mqttv31` (`-V`).
        public var protocolVersion: String
        /// The QoS (`-q`).
        public var qos: Int
        /// A user name (`-u`).
        public var username: String?
        /// A password (`-P`).
        public var password: String?
        /// A client id (`-i`).
        public var clientID: String?
        /// More arguments, appended verbatim.
        public var extraArguments: [String]

        /// Creates options.
        public init(
            transport: Transport = .plain, protocolVersion: String = "mqttv5", qos: Int = 0, username: String? = nil,
            password: String? = nil, clientID: String? = nil, extraArguments: [String] = []
        ) {
            self.transport = transport
            self.protocolVersion = protocolVersion
            self.qos = qos
            self.username = username
            self.password = password
            self.clientID = clientID
            self.extraArguments = extraArguments
        }
    }

    /// The result of a finished CLI peer.
    public struct CLIResult: Sendable, Hashable {
        /// The exit status (exit code, or 128 + signal number).
        public var exitStatus: Int32
        /// What it wrote to stdout and stderr.
        public var output: String
    }

    /// The common `mosquitto_pub`/`mosquitto_sub` arguments: host, port, TLS files, version, QoS, user.
    public func cliArguments(_ options: CLIOptions) throws -> [String] {
        var arguments = ["-V", options.protocolVersion, "-q", "\(options.qos)"]
        switch options.transport {
        case .plain:
            arguments += ["-h", host, "-p", "\(plainPort)"]
        case .tls, .mtls:
            guard let certificates, let tlsPort, let mtlsPort else {
                throw LocalBrokerError(.invalidState, "the broker has no TLS listener")
            }
            let port = options.transport == .tls ? tlsPort : mtlsPort
            arguments += ["-h", "localhost", "-p", "\(port)", "--cafile", certificates.caFile]
            if options.transport == .mtls {
                arguments += ["--cert", certificates.clientCert, "--key", certificates.clientKey]
            }
        }
        if let username = options.username { arguments += ["-u", username] }
        if let password = options.password { arguments += ["-P", password] }
        if let clientID = options.clientID { arguments += ["-i", clientID] }
        return arguments + options.extraArguments
    }

    /// Runs `mosquitto_pub` once (bounded by `timeout`) and returns its exit status and output.
    ///
    /// `mosquitto_pub` is a peer no one here wrote: use it to check interoperability.
    public func publishWithCLI(
        topic: String, message: String, retain: Bool = false, options: CLIOptions = .init(),
        timeout: Duration = .seconds(10)
    ) async throws -> CLIResult {
        let executable = try findExecutable("mosquitto_pub")
        var arguments = try cliArguments(options) + ["-t", topic, "-m", message]
        if retain { arguments.append("-r") }
        let process = try ChildProcess.spawn(
            executable, arguments, outputFile: folder + "/pub-\(UUID().uuidString).log")
        guard let status = await process.wait(timeout: timeout) else {
            _ = await process.killNow()
            throw LocalBrokerError(.processFailed, "mosquitto_pub timed out: \(process.output())")
        }
        return CLIResult(exitStatus: status, output: process.output())
    }

    /// Starts `mosquitto_sub` on `topic` and waits (bounded) until the broker acknowledged the
    /// subscription. It exits after `count` messages or `timeout`.
    public func subscribeWithCLI(
        topic: String, count: Int, options: CLIOptions = .init(), timeout: Duration = .seconds(20)
    ) async throws -> CLISubscriber {
        let executable = try findExecutable("mosquitto_sub")
        let seconds = max(1, Int(timeout.components.seconds))
        let arguments =
            try cliArguments(options) + [
                "-t", topic, "-C", "\(count)", "-W", "\(seconds)", "-d", "-F", "\(CLISubscriber.marker)%t|%p",
            ]
        // mosquitto_sub's stdout is block-buffered into a file: line-buffer it so that the SUBACK
        // debug line and each message appear at once.
        let unbuffered = (try? findExecutable("stdbuf")).map { ($0, ["-oL", executable] + arguments) }
        let (program, programArguments) = unbuffered ?? (executable, arguments)
        let process = try ChildProcess.spawn(
            program, programArguments, outputFile: folder + "/sub-\(UUID().uuidString).log")
        let subscriber = CLISubscriber(process: process)
        try await subscriber.waitUntilSubscribed(timeout: .seconds(10))
        return subscriber
    }
}

/// A running `mosquitto_sub`.
public final class CLISubscriber: Sendable {
    static let marker = "MSG|"
    let process: ChildProcess

    init(process: ChildProcess) {
        self.process = process
    }

    /// A message it printed.
    public struct Message: Sendable, Hashable {
        /// The topic.
        public var topic: String
        /// The payload as text.
        public var payload: String

        /// Creates a message.
        public init(topic: String, payload: String) {
            self.topic = topic
            self.payload = payload
        }
    }

    /// Everything it printed so far (debug lines included).
    public var output: String { process.output() }

    /// The messages it printed so far.
    public var messages: [Message] {
        output.split(separator: "\n", omittingEmptySubsequences: true).compactMap { line in
            guard line.hasPrefix(Self.marker) else { return nil }
            let rest = line.dropFirst(Self.marker.count)
            guard let bar = rest.firstIndex(of: "|") else { return nil }
            return Message(topic: String(rest[..<bar]), payload: String(rest[rest.index(after: bar)...]))
        }
    }

    /// Waits (bounded) for the SUBACK; throws if it exits or times out first.
    func waitUntilSubscribed(timeout: Duration) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if output.contains("received SUBACK") { return }
            if let status = process.status() {
                throw LocalBrokerError(.processFailed, "mosquitto_sub exited with \(status): \(output)")
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        _ = await process.killNow()
        throw LocalBrokerError(.processFailed, "mosquitto_sub got no SUBACK in time: \(output)")
    }

    /// Waits (bounded) until it exits (after its message count or its own timeout) and returns the result.
    public func wait(timeout: Duration = .seconds(30)) async -> LocalBroker.CLIResult {
        let status = await process.wait(timeout: timeout)
        if status == nil { _ = await process.killNow() }
        return LocalBroker.CLIResult(exitStatus: status ?? -1, output: output)
    }

    /// Stops it now (SIGTERM, then SIGKILL).
    public func stop() async {
        _ = await process.terminate()
    }
}

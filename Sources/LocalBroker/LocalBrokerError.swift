/// An error from ``LocalBroker``: a code to match on and a reason for humans.
public struct LocalBrokerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A required executable (`mosquitto`, `openssl`, `mosquitto_passwd`, ...) is not installed.
        public static let executableNotFound = Code("executableNotFound")
        /// A child process could not be started, failed, or timed out.
        public static let processFailed = Code("processFailed")
        /// The broker did not accept connections in time, or exited during start.
        public static let brokerDidNotStart = Code("brokerDidNotStart")
        /// A file or folder could not be written.
        public static let fileSystem = Code("fileSystem")
        /// No free loopback port could be found.
        public static let noFreePort = Code("noFreePort")
        /// The operation does not fit the broker's state (e.g. restart after stop).
        public static let invalidState = Code("invalidState")

        /// The code's name.
        public var description: String { name }
    }

    /// The error code.
    public let code: Code
    /// A diagnostic reason (for logs, not for matching).
    public let reason: String

    init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `code: reason`.
    public var description: String { "LocalBrokerError.\(code): \(reason)" }
}

/// Why a benchmark did not run or did not finish.
public struct BenchError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// The configuration is invalid (a flag combination or value); nothing was started.
        public static let invalidConfiguration = Code(name: "invalidConfiguration")
        /// The broker could not be started or reached before the load started.
        public static let brokerUnavailable = Code(name: "brokerUnavailable")
        /// The broker connection was lost during the run; the result is partial.
        public static let brokerLost = Code(name: "brokerLost")
        /// A file could not be read or written, or its contents are not a benchmark result.
        public static let io = Code(name: "io")

        /// The code's name.
        public var description: String { name }
    }

    /// The kind of failure.
    public let code: Code
    /// One line that says what went wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

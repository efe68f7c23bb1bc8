/// How the publishers are driven.
public enum BenchLoad: Sendable, Hashable {
    /// Open loop at a global target rate in messages per second, split evenly over the publishers. Every message
    /// has an intended send time; latency is measured from it, so a stalled publisher does not hide the stall
    /// (no coordinated omission).
    case rate(Double)
    /// As fast as the system delivers: each publisher keeps at most `window` messages in transit (sent but not yet
    /// delivered), so the broker is never flooded into dropping. Latency is measured from the actual send time.
    case maximum(window: Int)
}

/// When a mode's measured segment ends.
public enum BenchStop: Sendable, Hashable {
    /// After this many messages in total (over all publishers).
    case count(Int)
    /// After this long.
    case duration(Duration)
}

/// Where the broker is.
public enum BenchBroker: Sendable, Hashable {
    /// Start Debian's `mosquitto` on a free loopback port for the run (LocalBroker) and stop it afterwards.
    case local
    /// An external broker.
    case external(BenchExternalBroker)
}

/// An external broker's address and credentials.
public struct BenchExternalBroker: Sendable, Hashable {
    /// Host name or address.
    public var host: String
    /// Port.
    public var port: Int
    /// User name, or nil.
    public var username: String?
    /// Password, or nil.
    public var password: String?
    /// Whether to use TLS.
    public var tls: Bool
    /// CA certificate file (PEM) for TLS, or nil for the system roots.
    public var caFile: String?
    /// Client certificate (PEM), or nil.
    public var certificateFile: String?
    /// Client private key (PEM), or nil.
    public var keyFile: String?
    /// Skip the hostname check of the server certificate (the chain is still verified).
    public var insecure: Bool

    /// Creates an external broker description.
    public init(
        host: String, port: Int = 1883, username: String? = nil, password: String? = nil, tls: Bool = false,
        caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, insecure: Bool = false
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.insecure = insecure
    }
}

/// Everything a benchmark run needs. ``validate()`` refuses contradictions before anything starts.
public struct BenchConfiguration: Sendable, Hashable {
    /// The smallest payload: the embedded header (publisher, lane, sequence number, send time) is 20 bytes.
    public static let minimumPayloadSize = BenchPayload.headerSize
    /// The largest payload accepted (1 MiB).
    public static let maximumPayloadSize = 1 << 20
    /// Hard cap on the messages of one segment.
    public static let maximumCount = 10_000_000
    /// The most publisher connections of one run (the publisher-connection scale curve goes to 1,000).
    public static let maximumPublishers = 1_000
    /// Hard cap on the duration of one segment.
    public static let maximumDuration = Duration.seconds(600)

    /// The modes, measured in this order for every payload size.
    public var modes: [BenchMode]
    /// MQTT QoS 0, 1 or 2.
    public var qos: Int
    /// Payload sizes in bytes (the application payload, before the envelope).
    public var sizes: [Int]
    /// Publisher clients, each its own MQTT connection (1 ... ``maximumPublishers``); all share the process's
    /// event loops.
    public var publishers: Int
    /// Subscriber clients. Without ``sharedGroup`` every subscriber receives every message.
    public var subscribers: Int
    /// A shared-subscription group: the subscribers subscribe to `$share/<group>/...`, so each message goes to one.
    public var sharedGroup: String?
    /// Topics each publisher spreads its messages over (round robin). Order is checked per topic; several
    /// topics let the sealed client verify on several workers.
    public var topicsPerPublisher: Int
    /// Open loop at a rate, or maximum throughput.
    public var load: BenchLoad
    /// Count or duration of each measured segment.
    public var stop: BenchStop
    /// Messages published before each segment's measurement starts (not measured).
    public var warmupCount: Int
    /// How many times the whole mode sequence is repeated (interleaved rounds); each round measures
    /// 1/`rounds` of the count or duration and the rounds of a mode are summed.
    public var rounds: Int
    /// Verification workers of the subscribers' sealed clients (`SealedMQTTConfiguration.workerCount`); nil for
    /// the default (the number of cores).
    public var workerCount: Int?
    /// Also measure sign-mode verification with 1 and with 2 workers (``BenchResult/verifyScaling``).
    public var verifyScaling: Bool
    /// Messages per verify-scaling run.
    public var verifyScalingCount: Int
    /// The broker.
    public var broker: BenchBroker
    /// Topic prefix; every benchmark topic is `<prefix>/<run id>/...`.
    public var topicPrefix: String
    /// How long to wait, after the last publish, for messages still in transit before counting them lost.
    public var drainTimeout: Duration

    /// Creates a configuration; the defaults measure every mode at 64 B, QoS 0, maximum throughput, 100,000
    /// messages per mode, on a local mosquitto.
    public init(
        modes: [BenchMode] = BenchMode.allCases, qos: Int = 0, sizes: [Int] = [64], publishers: Int = 1,
        subscribers: Int = 1, sharedGroup: String? = nil, topicsPerPublisher: Int = 8,
        load: BenchLoad = .maximum(window: 2000), stop: BenchStop = .count(100_000), warmupCount: Int? = nil,
        rounds: Int = 1, workerCount: Int? = nil, verifyScaling: Bool = false, verifyScalingCount: Int = 60_000,
        broker: BenchBroker = .local, topicPrefix: String = "sealbench", drainTimeout: Duration = .seconds(5)
    ) {
        self.modes = modes
        self.qos = qos
        self.sizes = sizes
        self.publishers = publishers
        self.subscribers = subscribers
        self.sharedGroup = sharedGroup
        self.topicsPerPublisher = topicsPerPublisher
        self.load = load
        self.stop = stop
        switch stop {
        case .count(let count): self.warmupCount = warmupCount ?? min(max(count / 10, 100), 5_000)
        case .duration: self.warmupCount = warmupCount ?? 2_000
        }
        self.rounds = rounds
        self.workerCount = workerCount
        self.verifyScaling = verifyScaling
        self.verifyScalingCount = verifyScalingCount
        self.broker = broker
        self.topicPrefix = topicPrefix
        self.drainTimeout = drainTimeout
    }

    /// Checks every value and combination; throws ``BenchError/Code/invalidConfiguration`` with one line.
    public func validate() throws(BenchError) {
        func fail(_ message: String) -> BenchError { BenchError(.invalidConfiguration, message) }
        guard !modes.isEmpty else { throw fail("at least one mode is needed") }
        guard Set(modes).count == modes.count else { throw fail("a mode is listed twice") }
        guard (0...2).contains(qos) else { throw fail("QoS must be 0, 1 or 2, not \(qos)") }
        guard !sizes.isEmpty else { throw fail("at least one payload size is needed") }
        for size in sizes {
            guard (Self.minimumPayloadSize...Self.maximumPayloadSize).contains(size) else {
                throw fail(
                    "payload size \(size) is outside \(Self.minimumPayloadSize)...\(Self.maximumPayloadSize) bytes "
                        + "(the payload embeds a \(Self.minimumPayloadSize)-byte sequence number and timestamp)")
            }
        }
        guard (1...Self.maximumPublishers).contains(publishers) else {
            throw fail("publishers must be between 1 and \(Self.maximumPublishers)")
        }
        guard (1...64).contains(subscribers) else { throw fail("subscribers must be between 1 and 64") }
        guard (1...256).contains(topicsPerPublisher) else { throw fail("topics per publisher must be 1...256") }
        if let sharedGroup {
            guard !sharedGroup.isEmpty, !sharedGroup.contains(where: { "/+#".contains($0) }) else {
                throw fail("the shared-subscription group must be a non-empty name without '/', '+' or '#'")
            }
        }
        switch load {
        case .rate(let rate):
            guard rate.isFinite, rate >= 1, rate <= 5_000_000 else {
                throw fail("the target rate must be between 1 and 5000000 messages per second")
            }
        case .maximum(let window):
            guard (1...100_000).contains(window) else { throw fail("the in-transit window must be 1...100000") }
        }
        switch stop {
        case .count(let count):
            guard (1...Self.maximumCount).contains(count) else {
                throw fail("the count must be between 1 and \(Self.maximumCount)")
            }
        case .duration(let duration):
            guard duration > .zero, duration <= Self.maximumDuration else {
                throw fail("the duration must be more than 0 and at most 600 seconds")
            }
        }
        guard (1...100).contains(rounds) else { throw fail("rounds must be between 1 and 100") }
        guard (0...Self.maximumCount).contains(warmupCount) else { throw fail("invalid warm-up count") }
        if let workerCount {
            guard (1...64).contains(workerCount) else { throw fail("workers must be between 1 and 64") }
        }
        guard (1...1_000_000).contains(verifyScalingCount) else {
            throw fail("verify-scaling count must be 1...1000000")
        }
        guard !topicPrefix.isEmpty, !topicPrefix.contains(where: { "+#".contains($0) }), !topicPrefix.hasPrefix("$")
        else { throw fail("the topic prefix must be non-empty, without wildcards, not starting with '$'") }
        guard drainTimeout > .zero, drainTimeout <= .seconds(60) else { throw fail("drain timeout must be 0...60 s") }
        if case .external(let external) = broker {
            guard !external.host.isEmpty else { throw fail("the broker host is empty") }
            guard (1...65_535).contains(external.port) else { throw fail("the port must be between 1 and 65535") }
            if !external.tls && (external.caFile != nil || external.certificateFile != nil || external.insecure) {
                throw fail("TLS options need TLS")
            }
            if (external.certificateFile == nil) != (external.keyFile == nil) {
                throw fail("a client certificate needs its key and a key needs its certificate")
            }
            if external.password != nil && external.username == nil { throw fail("a password needs a user name") }
        }
    }
}

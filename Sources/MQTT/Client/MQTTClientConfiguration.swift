public import Logging
public import NIOCore

/// TLS settings for ``MQTTClient``, applied with NIOSSL.
///
/// Certificate and host name verification are on by default. The host name checked (and sent as
/// SNI) is ``serverName``, else the host the client connects to; an IP address is checked against
/// the certificate's IP SANs.
public struct MQTTTLSOptions: Sendable, Hashable {
    /// PEM file with the CA certificates to trust; `nil` (and no ``caDirectory``) trusts the system's default roots.
    public var caFile: String?
    /// A folder of PEM CA certificates named by their subject hash (`openssl rehash`), as OpenSSL's `CApath`; trusted
    /// in addition to ``caFile``.
    public var caDirectory: String?
    /// The oldest TLS version accepted: TLS 1.2 (the default) or TLS 1.3.
    public var minimumVersion: MQTTTLSVersion
    /// PEM file with the client certificate chain (for mutual TLS).
    public var certificateFile: String?
    /// PEM file with the client's private key.
    public var privateKeyFile: String?
    /// The host name to verify and send as SNI, if not the connection host.
    public var serverName: String?
    /// Whether the server certificate's names are checked. `false` is insecure: any certificate
    /// from a trusted CA is accepted for any host. Use ``insecureWithoutHostnameVerification(caFile:)``.
    public var verifiesHostname: Bool

    /// Creates TLS options with full verification.
    public init(
        caFile: String? = nil, certificateFile: String? = nil, privateKeyFile: String? = nil,
        serverName: String? = nil
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.serverName = serverName
        self.verifiesHostname = true
        self.caDirectory = nil
        self.minimumVersion = .tls12
    }

    /// INSECURE: verifies the chain but not the host name.
    public static func insecureWithoutHostnameVerification(caFile: String?) -> MQTTTLSOptions {
        var options = MQTTTLSOptions(caFile: caFile)
        options.verifiesHostname = false
        return options
    }
}

/// A TLS protocol version ``MQTTTLSOptions/minimumVersion`` can require. Older versions are not offered.
public enum MQTTTLSVersion: String, Sendable, Hashable, CaseIterable {
    /// TLS 1.2 (RFC 5246).
    case tls12 = "tlsv1.2"
    /// TLS 1.3 (RFC 8446).
    case tls13 = "tlsv1.3"
}

/// How ``MQTTClient`` reconnects after a connection it had is lost. Times are `Duration`s, as everywhere in the
/// public API.
public struct MQTTReconnectPolicy: Sendable, Hashable {
    /// Whether to reconnect at all.
    public var enabled: Bool
    /// The first delay.
    public var initialDelay: Duration
    /// The largest delay; delays double from ``initialDelay`` up to this.
    public var maximumDelay: Duration
    /// Jitter: each delay is multiplied by a random factor in `1 - jitter ... 1`.
    public var jitter: Double
    /// Attempts before giving up (``MQTTError/Code/reconnectLimitReached``); `nil` retries forever.
    public var maximumAttempts: Int?
    /// How long a connection must last before the backoff starts over. A connection that the broker accepts
    /// and drops sooner counts as one more failed attempt, so the delay keeps growing (and
    /// ``maximumAttempts`` is reached) against a broker that drops every connection right after CONNACK.
    public var resetAfter: Duration

    /// Creates a policy.
    public init(
        enabled: Bool = true, initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(30),
        jitter: Double = 0.5, maximumAttempts: Int? = nil, resetAfter: Duration = .seconds(10)
    ) {
        self.resetAfter = resetAfter
        self.enabled = enabled
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.jitter = min(max(jitter, 0), 1)
        self.maximumAttempts = maximumAttempts
    }

    /// Never reconnect.
    public static let disabled = MQTTReconnectPolicy(enabled: false)

    /// The delay before attempt `attempt` (1-based), with jitter.
    func delay(attempt: Int) -> TimeAmount {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = min(
            Double(TimeAmount(initialDelay).nanoseconds) * Double(1 << exponent),
            Double(TimeAmount(maximumDelay).nanoseconds))
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...1) : 1
        return .nanoseconds(Int64(base * factor))
    }
}

/// Everything ``MQTTClient`` needs to connect.
public struct MQTTClientConfiguration: Sendable {
    /// Broker host name or IP address.
    public var host: String
    /// Broker port.
    public var port: Int
    /// MQTT 3.1.1 or 5.0.
    public var protocolVersion: MQTTProtocolVersion
    /// The client identifier; empty picks a random one (so that the session can be resumed).
    public var clientID: String
    /// Clean start (MQTT 5) / clean session (3.1.1) on the first connection. Reconnects always
    /// ask to resume the session.
    public var cleanStart: Bool
    /// MQTT 5 Session Expiry Interval: how long the broker keeps the session after the connection ends (zero: it ends
    /// with the connection; ``sessionNeverExpires`` or longer: it never expires). Sent in whole seconds, rounded up.
    public var sessionExpiryInterval: Duration
    /// Keepalive: the client sends PINGREQ when it has sent nothing for this long (zero disables it). Whole seconds
    /// up to 65,535, rounded up.
    public var keepAlive: Duration
    /// User name.
    public var username: String?
    /// Password.
    public var password: [UInt8]?
    /// The will, published by the broker if the connection ends abruptly.
    public var will: MQTTWill?
    /// TLS, or `nil` for plain TCP.
    public var tls: MQTTTLSOptions?
    /// MQTT over WebSocket (`ws://`, or `wss://` with ``tls``), or `nil` for MQTT directly on TCP (the default).
    public var webSocket: MQTTWebSocketOptions?
    /// The local address to connect from (an IP address, as `mosquitto_pub -A`), or `nil` to let the system choose.
    public var localAddress: String?
    /// A Unix domain socket to reach the broker through instead of TCP (``host`` and ``port`` are then used only in
    /// messages and for TLS), or `nil`.
    public var unixSocketPath: String?
    /// The Receive Maximum this client announces (incoming QoS 1/2 in flight).
    public var receiveMaximum: UInt16
    /// QoS 1/2 messages in flight at once in MQTT 3.1.1, which has no Receive Maximum (MQTT 5 uses
    /// the broker's). mosquitto's `max_inflight_messages` defaults to 20.
    public var inflightLimitForMQTT311: Int
    /// The largest packet this client sends or accepts, in bytes, fixed header included (announced to the
    /// broker as Maximum Packet Size in MQTT 5). The default is the protocol's limit,
    /// ``MQTTPacket/maximumPacketSize`` (268,435,460 bytes); memory per connection is bounded by it.
    public var maximumPacketSize: Int
    /// Topic aliases this client accepts from the broker (MQTT 5); 0 accepts none.
    public var topicAliasMaximum: UInt16
    /// Whether outgoing PUBLISH packets use topic aliases when the broker allows them (MQTT 5).
    public var usesOutgoingTopicAliases: Bool
    /// Per-subscription buffer of received messages; see ``MQTTMessageStream`` for the policy.
    public var subscriptionBufferCapacity: Int
    /// What happens when a subscription's buffer is full: pause reading for every subscription (the default,
    /// lossless) or keep the others flowing (``MQTTSlowSubscriptionPolicy/isolate``).
    public var slowSubscriptionPolicy: MQTTSlowSubscriptionPolicy
    /// Bound on CONNECT -> CONNACK (and the TCP/TLS connect).
    public var connectTimeout: Duration
    /// Bound on SUBSCRIBE -> SUBACK and UNSUBSCRIBE -> UNSUBACK.
    public var requestTimeout: Duration
    /// Reconnection after a lost connection.
    public var reconnect: MQTTReconnectPolicy
    /// Extra CONNECT properties (MQTT 5), e.g. user properties.
    public var connectProperties: MQTTProperties
    /// The on-disk session store (`nil`, the default: the session lives in memory and a process crash loses the
    /// messages in flight). It needs a fixed ``clientID`` and ``cleanStart`` `false`.
    public var sessionStore: MQTTSessionStoreOptions?
    /// The logger.
    public var logger: Logger

    /// Creates a configuration.
    public init(
        host: String, port: Int = 1883, protocolVersion: MQTTProtocolVersion = .v5, clientID: String = "",
        cleanStart: Bool = true, sessionExpiryInterval: Duration = .zero, keepAlive: Duration = .seconds(60),
        username: String? = nil,
        password: String? = nil, will: MQTTWill? = nil, tls: MQTTTLSOptions? = nil
    ) {
        self.host = host
        self.port = port
        self.protocolVersion = protocolVersion
        self.clientID = clientID
        self.cleanStart = cleanStart
        self.sessionExpiryInterval = sessionExpiryInterval
        self.keepAlive = keepAlive
        self.username = username
        self.password = password.map { Array($0.utf8) }
        self.will = will
        self.tls = tls
        self.localAddress = nil
        self.unixSocketPath = nil
        self.receiveMaximum = 65535
        self.inflightLimitForMQTT311 = 20
        self.maximumPacketSize = MQTTPacket.maximumPacketSize
        self.topicAliasMaximum = 1024
        self.usesOutgoingTopicAliases = true
        self.subscriptionBufferCapacity = 1024
        self.slowSubscriptionPolicy = .pauseReading
        self.connectTimeout = .seconds(10)
        self.requestTimeout = .seconds(10)
        self.reconnect = MQTTReconnectPolicy()
        self.connectProperties = MQTTProperties()
        self.sessionStore = nil
        self.logger = Logger(label: "mqtt.client")
    }
}

extension MQTTClientConfiguration {
    /// A ``sessionExpiryInterval`` that never expires (the MQTT 5 value 0xFFFFFFFF).
    public static let sessionNeverExpires = Duration.seconds(UInt32.max)

    /// ``keepAlive`` as CONNECT carries it.
    var keepAliveSeconds: UInt16 { UInt16(clamping: Self.wholeSeconds(keepAlive)) }

    /// ``sessionExpiryInterval`` as CONNECT carries it.
    var sessionExpirySeconds: UInt32 { UInt32(clamping: Self.wholeSeconds(sessionExpiryInterval)) }

    /// `duration` in whole seconds, rounded up (negative: 0).
    static func wholeSeconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return attoseconds > 0 ? seconds + 1 : seconds
    }

    /// Refuses values CONNECT cannot carry.
    func validateTimes() throws(MQTTError) {
        for (name, value) in [
            ("keepAlive", keepAlive), ("sessionExpiryInterval", sessionExpiryInterval),
            ("connectTimeout", connectTimeout), ("requestTimeout", requestTimeout),
        ] where value < .zero {
            throw MQTTError.invalidArgument("\(name) is negative")
        }
        if keepAlive > .seconds(65_535) { throw MQTTError.invalidArgument("keepAlive is over 65,535 seconds") }
    }
}

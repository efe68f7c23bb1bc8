extension LocalBroker {
    /// A user in the broker's password file.
    public struct User: Sendable, Hashable {
        /// The user name.
        public var name: String
        /// The password (stored hashed by `mosquitto_passwd -b`).
        public var password: String

        /// Creates a user.
        public init(_ name: String, password: String) {
            self.name = name
            self.password = password
        }
    }

    /// What an ACL rule grants on a topic.
    public enum Access: String, Sendable, Hashable {
        /// Subscribe and receive.
        case read
        /// Publish.
        case write
        /// Both.
        case readwrite
        /// Explicitly deny (mosquitto 2.0).
        case deny
    }

    /// One ACL line: access to a topic filter.
    public struct Rule: Sendable, Hashable {
        /// The access granted.
        public var access: Access
        /// The topic filter; in ``ACL/patterns`` `%c` (client id) and `%u` (user name) are substituted.
        public var topic: String

        /// Creates a rule.
        public init(_ access: Access, _ topic: String) {
            self.access = access
            self.topic = topic
        }
    }

    /// A mosquitto ACL file. When an ACL is configured, everything not granted is denied.
    public struct ACL: Sendable, Hashable {
        /// Rules for clients that connect without a user name.
        public var anonymous: [Rule]
        /// Rules per user name.
        public var users: [String: [Rule]]
        /// Pattern rules for every client (`pattern` lines).
        public var patterns: [Rule]

        /// Creates an ACL.
        public init(anonymous: [Rule] = [], users: [String: [Rule]] = [:], patterns: [Rule] = []) {
            self.anonymous = anonymous
            self.users = users
            self.patterns = patterns
        }

        /// The file text in mosquitto's format.
        var fileText: String {
            var lines: [String] = ["# written by LocalBroker"]
            for rule in anonymous { lines.append("topic \(rule.access.rawValue) \(rule.topic)") }
            for rule in patterns { lines.append("pattern \(rule.access.rawValue) \(rule.topic)") }
            for (user, rules) in users.sorted(by: { $0.key < $1.key }) {
                lines.append("")
                lines.append("user \(user)")
                for rule in rules { lines.append("topic \(rule.access.rawValue) \(rule.topic)") }
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// A bridge from this broker to another one on loopback.
    public struct Bridge: Sendable, Hashable {
        /// The MQTT version the bridge speaks to the remote broker.
        public enum ProtocolVersion: String, Sendable, Hashable {
            /// MQTT 3.1.1.
            case v311 = "mqttv311"
            /// MQTT 5.0.
            case v5 = "mqttv50"
        }

        /// The connection name (also the bridge's client id prefix).
        public var name: String
        /// The remote broker's plain port on 127.0.0.1.
        public var remotePort: Int
        /// `topic` lines, e.g. `"# both 1"` or `"sensors/# out 1"`.
        public var topics: [String]
        /// The bridge protocol version.
        public var protocolVersion: ProtocolVersion
        /// Remote user name, if the remote broker needs one.
        public var remoteUsername: String?
        /// Remote password.
        public var remotePassword: String?

        /// Creates a bridge.
        public init(
            name: String, remotePort: Int, topics: [String] = ["# both 1"], protocolVersion: ProtocolVersion = .v311,
            remoteUsername: String? = nil, remotePassword: String? = nil
        ) {
            self.name = name
            self.remotePort = remotePort
            self.topics = topics
            self.protocolVersion = protocolVersion
            self.remoteUsername = remoteUsername
            self.remotePassword = remotePassword
        }
    }

    /// How to start the broker.
    public struct Configuration: Sendable, Hashable {
        /// Users for the password file. Empty means no password file.
        public var users: [User]
        /// Whether clients without a user name may connect. Defaults to `true` when there are no users.
        public var allowAnonymous: Bool
        /// An ACL file, or `nil` for none (everything allowed).
        public var acl: ACL?
        /// Start TLS listeners (``LocalBroker/tlsPort``, ``LocalBroker/mtlsPort``,
        /// ``LocalBroker/mismatchedHostPort``) with freshly made certificates.
        public var tls: Bool
        /// Keep sessions and messages in a persistence file, so that ``LocalBroker/restart()`` and
        /// ``LocalBroker/kill()`` followed by restart keep them (mosquitto saves on exit and every
        /// `autosaveInterval` seconds).
        public var persistence: Bool
        /// Autosave interval in seconds (persistence only); with `autosaveOnChanges` it counts changes.
        public var autosaveInterval: Int
        /// Save after `autosaveInterval` changes instead of seconds.
        public var autosaveOnChanges: Bool
        /// Bridges to other brokers.
        public var bridges: [Bridge]
        /// Maximum QoS 1/2 messages in flight per client (`max_inflight_messages`, the broker's
        /// Receive Maximum in MQTT 5). `nil` keeps mosquitto's default (20).
        public var maxInflightMessages: Int?
        /// Maximum queued messages per client (`max_queued_messages`). `nil` keeps the default (1000).
        public var maxQueuedMessages: Int?
        /// Topic filters that anonymous clients may neither subscribe to nor publish to, enforced by
        /// mosquitto's dynamic-security plugin. Unlike the ACL file (which mosquitto 2.0 only applies
        /// when delivering), the plugin refuses the subscription itself: SUBACK failure 0x87 in MQTT 5,
        /// 0x80 in 3.1.1. Use it with anonymous access only (the plugin then owns authentication).
        public var anonymousDeniedTopics: [String]
        /// Also listen on a Unix domain socket, ``LocalBroker/unixSocketPath``.
        public var unixSocket: Bool
        /// Raw configuration lines appended at the end.
        public var extraConfiguration: [String]

        /// Creates a configuration.
        public init(
            users: [User] = [], allowAnonymous: Bool? = nil, acl: ACL? = nil, tls: Bool = false,
            persistence: Bool = false, autosaveInterval: Int = 1, autosaveOnChanges: Bool = false,
            bridges: [Bridge] = [], maxInflightMessages: Int? = nil, maxQueuedMessages: Int? = nil,
            anonymousDeniedTopics: [String] = [], unixSocket: Bool = false, extraConfiguration: [String] = []
        ) {
            self.unixSocket = unixSocket
            self.anonymousDeniedTopics = anonymousDeniedTopics
            self.users = users
            self.allowAnonymous = allowAnonymous ?? users.isEmpty
            self.acl = acl
            self.tls = tls
            self.persistence = persistence
            self.autosaveInterval = autosaveInterval
            self.autosaveOnChanges = autosaveOnChanges
            self.bridges = bridges
            self.maxInflightMessages = maxInflightMessages
            self.maxQueuedMessages = maxQueuedMessages
            self.extraConfiguration = extraConfiguration
        }
    }
}

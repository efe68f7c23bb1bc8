/// Where and how ``MQTTClient`` keeps its session on disk, so that a process killed mid-stream (SIGKILL, a crash, a
/// reboot) and started again with the same client identifier and store loses none of the QoS 1/2 messages that
/// ``MQTTClient/publish(to:payload:qos:retain:properties:)`` or ``MQTTClient/enqueue(to:payload:qos:retain:properties:)``
/// accepted.
///
/// The store keeps the outgoing QoS 1/2 messages the broker has not acknowledged (also those still waiting for room
/// in the send window), the QoS 2 receive state and the packet ids in use. It is one append-only log per client in
/// ``directory``; see the "Session store" article for its format, its crash safety and its cost.
///
/// A store needs a persistent session: a fixed ``MQTTClientConfiguration/clientID`` and
/// ``MQTTClientConfiguration/cleanStart`` `false` (in MQTT 5 also a ``MQTTClientConfiguration/sessionExpiryInterval``
/// long enough for the broker to keep the subscriber's side while the process is down).
public struct MQTTSessionStoreOptions: Sendable, Hashable {
    /// What "accepted" survives.
    public enum Durability: Sendable, Hashable {
        /// Every batch of records is written and flushed to the disk (`fdatasync`) before a message is reported
        /// accepted and before the packets that depend on it go out: survives a process crash, a kernel crash and
        /// a power loss. The default.
        case synchronized
        /// Records are handed to the kernel (`write`) before a message is reported accepted, but not flushed: a
        /// process crash (SIGKILL) loses nothing, a power loss or a kernel crash may lose the last records. Much
        /// cheaper on a real disk.
        case processCrash
    }

    /// The folder of the store (created with mode 0700 if missing). One client uses it at a time.
    public var directory: String
    /// What a message reported accepted survives.
    public var durability: Durability
    /// The log is rewritten with only its live records once it grows past this many bytes and less than half of it
    /// is live.
    public var compactionThreshold: Int

    /// Creates store options.
    public init(directory: String, durability: Durability = .synchronized, compactionThreshold: Int = 4 << 20) {
        self.directory = directory
        self.durability = durability
        self.compactionThreshold = max(64 << 10, compactionThreshold)
    }
}

extension MQTTError.Code {
    /// The session store cannot be used: it is in use by another process, unreadable, damaged, or a write to it
    /// failed (a full disk). A publish refused with this code was not accepted and not sent.
    public static let sessionStoreFailed = MQTTError.Code(name: "sessionStoreFailed")
    /// The session store belongs to another client identifier.
    public static let sessionStoreMismatch = MQTTError.Code(name: "sessionStoreMismatch")
}

import NIOCore

/// One change to the session state that the session store keeps: the state machine emits these (as
/// ``ClientStateMachine/Action/persist(_:)``) in the order the changes happen, the store appends them to its log,
/// and replaying the log rebuilds the state (``RecoveredSession``).
///
/// Outgoing messages are named by a store key that the store assigns when it accepts the message, not by their
/// packet id: a message waiting for room in the send window has no packet id yet, and a message the broker refused
/// with Quota exceeded gets a new one.
enum SessionRecord: Equatable, Sendable {
    /// A QoS 1/2 message the application handed over (stored before `publish` returns or `enqueue` reports it
    /// accepted).
    case accepted(key: UInt64, StoredPublish)
    /// The message got packet id `packetIdentifier` (and may be on the wire from now on).
    case assigned(key: UInt64, packetIdentifier: UInt16)
    /// PUBREC arrived for the QoS 2 message: from now on only PUBREL is resent.
    case released(key: UInt64)
    /// The flow ended (PUBACK, PUBCOMP, or a failure reported to the caller): the message is forgotten.
    case finished(key: UInt64)
    /// An incoming QoS 2 PUBLISH was delivered; a resend with this id is not delivered again until PUBREL.
    case incomingReceived(packetIdentifier: UInt16)
    /// PUBREL arrived for an incoming QoS 2 flow.
    case incomingReleased(packetIdentifier: UInt16)
    /// The broker did not resume the session: no incoming QoS 2 flow is open any more.
    case incomingCleared
}

/// The parts of a PUBLISH the store keeps (the packet id and DUP belong to the flow, not the message).
struct StoredPublish: Equatable, Sendable {
    var topic: String
    var payload: ByteBuffer
    var qos: MQTTQoS
    var retain: Bool
    var properties: MQTTProperties

    init(_ publish: MQTTPublish) {
        topic = publish.topic
        payload = publish.payload
        qos = publish.qos
        retain = publish.retain
        properties = publish.properties
    }

    var publish: MQTTPublish {
        MQTTPublish(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
    }
}

/// The session state rebuilt from a store's log.
struct RecoveredSession: Equatable, Sendable {
    /// An outgoing message the broker has not acknowledged.
    struct Outgoing: Equatable, Sendable {
        var key: UInt64
        var publish: StoredPublish
        /// The packet id it was last sent with; `nil`: it never got one (it waited for the send window).
        var packetIdentifier: UInt16?
        /// PUBREC arrived: only PUBREL is to be resent.
        var released: Bool
    }

    /// Outgoing messages by store key (keys grow in the order messages were accepted).
    var outgoingByKey: [UInt64: Outgoing] = [:]
    /// Incoming QoS 2 flows not yet released.
    var incomingQoS2: Set<UInt16> = []
    /// The packet id assigned last (the next one follows it).
    var lastPacketIdentifier: UInt16 = 0
    /// The largest store key in use (new keys follow it).
    var lastKey: UInt64 = 0

    var isEmpty: Bool { outgoingByKey.isEmpty && incomingQoS2.isEmpty }

    /// Outgoing messages in the order they were accepted.
    var outgoing: [Outgoing] { outgoingByKey.values.sorted { $0.key < $1.key } }

    /// Applies one record, in log order.
    mutating func apply(_ record: SessionRecord) {
        switch record {
        case .accepted(let key, let publish):
            outgoingByKey[key] = Outgoing(key: key, publish: publish, packetIdentifier: nil, released: false)
            lastKey = max(lastKey, key)
        case .assigned(let key, let id):
            lastPacketIdentifier = id
            outgoingByKey[key]?.packetIdentifier = id
            outgoingByKey[key]?.released = false
        case .released(let key):
            outgoingByKey[key]?.released = true
        case .finished(let key):
            outgoingByKey.removeValue(forKey: key)
        case .incomingReceived(let id):
            incomingQoS2.insert(id)
        case .incomingReleased(let id):
            incomingQoS2.remove(id)
        case .incomingCleared:
            incomingQoS2.removeAll()
        }
    }

    /// The records that rebuild this state (what compaction writes).
    var records: [SessionRecord] {
        var records: [SessionRecord] = []
        for entry in outgoing {
            records.append(.accepted(key: entry.key, entry.publish))
            if let id = entry.packetIdentifier { records.append(.assigned(key: entry.key, packetIdentifier: id)) }
            if entry.released { records.append(.released(key: entry.key)) }
        }
        for id in incomingQoS2.sorted() { records.append(.incomingReceived(packetIdentifier: id)) }
        return records
    }
}

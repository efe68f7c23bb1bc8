import NIOCore

/// Messages that arrived while no subscription stream matched them, kept until a later subscribe takes them.
///
/// A resumed session (`cleanStart: false` on a broker that still holds the session) delivers its backlog right
/// after CONNACK, before the application has had a chance to subscribe again. Those messages must not be
/// acknowledged and dropped. The policy:
///
/// - Up to `capacity` messages are buffered and acknowledged at once (PUBACK, PUBREC): they sit in a bounded
///   buffer that the next matching subscribe drains, in arrival order.
/// - Beyond `capacity`, QoS 1 and QoS 2 messages are still buffered, but their acknowledgement is deferred until
///   a subscription takes them. The broker's flow control (the client's Receive Maximum in MQTT 5, the broker's
///   in-flight limit in MQTT 3.1.1) then stops it from sending more, so memory stays bounded by `capacity`
///   plus the Receive Maximum, and reading never stops (the SUBACK that ends the wait can always arrive).
/// - Beyond `capacity`, QoS 0 messages are dropped: QoS 0 promises at most once.
/// - A message that matches a filter the application explicitly unsubscribed from (and no current
///   subscription) is a straggler of that subscription: it is acknowledged and dropped, not buffered.
///
/// Confined to the client's event loop, like ``ClientCore``.
struct UnroutedMessages {
    /// An acknowledgement withheld until a subscription takes the message.
    enum DeferredAck: Equatable {
        /// PUBACK, valid only on the connection the PUBLISH arrived on (the broker resends otherwise).
        case puback(packetIdentifier: UInt16, connectionID: Int)
        /// PUBREC: the QoS 2 receive state belongs to the session, so it is sent on the current connection.
        case pubrec(packetIdentifier: UInt16)
    }

    struct Entry {
        var message: MQTTMessage
        var deferredAck: DeferredAck?
    }

    /// Buffered messages acknowledged at once; beyond this, acknowledgements are deferred (QoS 1/2) or messages
    /// dropped (QoS 0).
    let capacity: Int
    private(set) var entries = CircularBuffer<Entry>()
    /// Filters the application unsubscribed from and has not subscribed to again.
    /// Keyed by the filter's UTF-8 bytes: MQTT compares filters byte for byte, Swift's `String ==` does not.
    private var unsubscribed: [[UInt8]: TopicMatcher] = [:]

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// What to do with a message no stream matched.
    enum Decision: Equatable {
        /// Buffered; acknowledge now.
        case bufferedAcknowledgeNow
        /// Buffered; the acknowledgement waits for a subscription.
        case bufferedAcknowledgeLater
        /// Not kept; acknowledge it (QoS 1/2), it is not wanted.
        case dropped
    }

    /// Buffers `message` (or not) according to the policy above. `ack` is the acknowledgement the message needs
    /// (nil for QoS 0).
    mutating func add(_ message: MQTTMessage, ack: DeferredAck?) -> Decision {
        if !unsubscribed.isEmpty, unsubscribed.values.contains(where: { $0.matches(message.topic) }) {
            return .dropped
        }
        if entries.count < capacity {
            entries.append(Entry(message: message, deferredAck: nil))
            return .bufferedAcknowledgeNow
        }
        guard let ack else { return .dropped }
        entries.append(Entry(message: message, deferredAck: ack))
        return .bufferedAcknowledgeLater
    }

    /// Whether a PUBREC for this QoS 2 packet identifier is being withheld.
    func withholdsPubrec(_ packetIdentifier: UInt16) -> Bool {
        entries.contains { $0.deferredAck == .pubrec(packetIdentifier: packetIdentifier) }
    }

    /// Removes and returns, in arrival order, every buffered message `matches` accepts.
    mutating func take(where matches: (String) -> Bool) -> [Entry] {
        guard !entries.isEmpty else { return [] }
        var taken: [Entry] = []
        var kept = CircularBuffer<Entry>(initialCapacity: entries.count)
        for entry in entries {
            if matches(entry.message.topic) { taken.append(entry) } else { kept.append(entry) }
        }
        entries = kept
        return taken
    }

    /// The broker has no session any more: withheld acknowledgements refer to nothing it knows.
    mutating func forgetDeferredAcks() {
        for index in entries.indices { entries[index].deferredAck = nil }
    }

    /// The application subscribed to `filters`: their messages are wanted again.
    mutating func subscribed(_ filters: [String]) {
        for filter in filters { unsubscribed.removeValue(forKey: Array(filter.utf8)) }
    }

    /// The application unsubscribed from `filters`: late messages for them are stragglers. Returns the buffered
    /// messages they match, which are dropped (the caller still owes their withheld acknowledgements).
    mutating func unsubscribed(_ filters: [String]) -> [Entry] {
        let matchers = filters.map(TopicMatcher.init(filter:))
        for (filter, matcher) in zip(filters, matchers) { unsubscribed[Array(filter.utf8)] = matcher }
        return take { topic in matchers.contains { $0.matches(topic) } }
    }

    mutating func removeAll() {
        entries.removeAll()
    }
}

import Synchronization

/// A snapshot's memory of choices it made per topic (the primary key, the publishing sealer): a dictionary under a
/// lock, cleared when it holds `capacity` entries, so memory stays bounded for any number of topics while a
/// publisher's working set of topics stays remembered.
final class BoundedMemory<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    let capacity: Int
    private let entries = Mutex<[Key: Value]>([:])

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func value(for key: Key) -> Value? {
        entries.withLock { $0[key] }
    }

    func remember(_ value: Value, for key: Key) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
    }

    /// Entries remembered (for tests of the bound).
    var count: Int { entries.withLock { $0.count } }
}

/// A topic as a dictionary key compared and hashed by its UTF-8 bytes (MQTT's equality, unlike `String ==`, which
/// equates canonically equivalent text).
struct TopicBytes: Hashable, Sendable {
    let topic: String

    init(_ topic: String) { self.topic = topic }

    static func == (lhs: TopicBytes, rhs: TopicBytes) -> Bool {
        var left = lhs.topic
        var right = rhs.topic
        return left.withUTF8 { left in right.withUTF8 { right in left.elementsEqual(right) } }
    }

    func hash(into hasher: inout Hasher) {
        var topic = topic
        topic.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

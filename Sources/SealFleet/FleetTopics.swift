import SealKeyring

/// The MQTT topics of a fleet, under one configurable prefix (default `seal/v1`): Specs/fleet.md §3.
///
/// - `<prefix>/slot/<device>`: the device's key slot, retained, QoS 1, written by the authority.
/// - `<prefix>/ack/<device>`: the device's signed ack after applying a slot, retained, QoS 1.
/// - `<prefix>/request/<device>`: the device's signed request for its slot (no slot found, or behind), QoS 1.
public struct FleetTopics: Sendable, Hashable {
    /// The prefix, without a trailing `/`.
    public let prefix: String

    /// The default prefix.
    public static let defaultPrefix = "seal/v1"

    /// Validates a prefix: a non-empty topic name without wildcards, not starting with `$` or `/`, not ending
    /// with `/`, at most 8 levels.
    ///
    /// - Throws: ``FleetError`` (`invalidArgument`).
    public init(prefix: String = FleetTopics.defaultPrefix) throws(FleetError) {
        do {
            try TopicFilter.validateTopic(prefix)
        } catch {
            throw FleetError(.invalidArgument, "fleet prefix: \(error.message)")
        }
        let bytes = Array(prefix.utf8)
        guard bytes.first != UInt8(ascii: "$"), bytes.first != UInt8(ascii: "/"), bytes.last != UInt8(ascii: "/"),
            bytes.filter({ $0 == UInt8(ascii: "/") }).count < 8
        else {
            throw FleetError(
                .invalidArgument,
                "fleet prefix \(TopicFilter.quoted(prefix)) must not start with $ or /, end with /, or exceed 8 levels")
        }
        self.prefix = prefix
    }

    /// The slot topic of a device.
    public func slot(_ device: String) -> String { "\(prefix)/slot/\(device)" }
    /// The ack topic of a device.
    public func ack(_ device: String) -> String { "\(prefix)/ack/\(device)" }
    /// The request topic of a device.
    public func request(_ device: String) -> String { "\(prefix)/request/\(device)" }
    /// The filter that matches every device's ack.
    public var allAcks: String { "\(prefix)/ack/+" }
    /// The filter that matches every device's request.
    public var allRequests: String { "\(prefix)/request/+" }

    /// The device id in an ack or request topic of this prefix, or nil.
    public func device(inReportTopic topic: String) -> (kind: FleetReport.Kind, device: String)? {
        for kind in [FleetReport.Kind.ack, .request] {
            let head = Array("\(prefix)/\(kind.rawValue)/".utf8)
            let bytes = Array(topic.utf8)
            guard bytes.count > head.count, bytes.starts(with: head) else { continue }
            let rest = bytes[head.count...]
            guard !rest.contains(UInt8(ascii: "/")), let id = String(validating: rest, as: UTF8.self) else {
                return nil
            }
            return (kind, id)
        }
        return nil
    }
}

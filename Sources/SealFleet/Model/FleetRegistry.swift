import Seal
public import SealKeyring

/// One enrolled device, as the authority records it.
public struct FleetMember: Sendable, Hashable {
    /// Whether the device still receives slots.
    public enum State: String, Sendable, Hashable {
        /// Enrolled and receiving slots.
        case active
        /// Revoked: no slots, its signer in no roster, its slot cleared.
        case revoked
    }

    /// The device id.
    public let device: String
    /// The signer id of the device's Ed25519 key.
    public let sid: UInt32
    /// The device's Ed25519 public key.
    public let signingKey: [UInt8]
    /// The device's X25519 public key (HPKE recipient).
    public let recipientKey: [UInt8]
    /// Read grants: the device receives the keys of every group these cover.
    public internal(set) var read: [TopicFilter]
    /// Write grants: readers trust the device's signatures on these (and it receives their keys).
    public internal(set) var write: [TopicFilter]
    /// Active or revoked.
    public internal(set) var state: State
    /// The sequence of the last slot published to the device (0: none yet).
    public internal(set) var published: UInt64
    /// The highest sequence the device acknowledged.
    public internal(set) var acked: UInt64
    /// When the authority last heard from the device (UTC seconds), if ever.
    public internal(set) var lastSeen: Int64?
    /// Digest of the last published snapshot's content, to publish again only what changed.
    var digest: [UInt8]
    /// Whether the revoked device's retained slot has been cleared.
    var cleared: Bool

    /// Every filter the device is entitled to keys for: read and write grants.
    public var entitled: [TopicFilter] { Array(Set(read + write)).sorted() }

    /// Whether the device acknowledged its latest slot.
    public var isCurrent: Bool { published > 0 && acked >= published }
}

/// The authority's record of the fleet (Specs/fleet.md §7): devices, their grants and slot state, the retirement
/// times of old keys, and the sequence counter. Stored beside the authority keyring, signed with the authority key.
public struct FleetRegistry: Sendable {
    /// The topic prefix the fleet uses.
    public internal(set) var topics: FleetTopics
    /// The enrolled devices, in enrolment order (only ever appended to: a revoked device stays as a record).
    public private(set) var members: [FleetMember]
    /// Position of each device in ``members``, by the id's UTF-8 bytes.
    private var positions: [[UInt8]: Int] = [:]
    /// Validated keys of members, by position (filled on first use).
    private var verifiers: [Int: VerifyingKey] = [:]
    /// How many members are active, kept up to date by every change (coverage is asked after every ack).
    public private(set) var activeCount = 0
    /// How many active members acknowledged their latest slot.
    public private(set) var currentCount = 0
    /// The last sequence handed out (slots of every device share one counter, so sequences never repeat).
    public internal(set) var sequence: UInt64
    /// Keys retired to decrypt-only, with the end of their grace period (UTC seconds).
    public internal(set) var retired: [UInt32: Int64]

    /// An empty registry.
    public init(topics: FleetTopics) {
        self.topics = topics
        self.members = []
        self.sequence = 0
        self.retired = [:]
    }

    /// The member with this id.
    public func member(_ device: String) -> FleetMember? {
        positions[Array(device.utf8)].map { members[$0] }
    }

    /// Adds a member (the id must be new).
    mutating func append(_ member: FleetMember) {
        positions[Array(member.device.utf8)] = members.count
        members.append(member)
        count(member, +1)
    }

    /// The member's Ed25519 key, validated once and then kept (validation is a scalar multiplication: doing it
    /// for every ack and every roster entry of every slot cost more than signing the slots).
    mutating func verifyingKey(at index: Int) -> VerifyingKey? {
        if let key = verifiers[index] { return key }
        let member = members[index]
        guard let key = try? VerifyingKey(id: member.sid, rawRepresentation: member.signingKey) else { return nil }
        verifiers[index] = key
        return key
    }

    /// The member at `index`; every change goes through here, so the counts stay true.
    subscript(member index: Int) -> FleetMember {
        get { members[index] }
        set {
            count(members[index], -1)
            members[index] = newValue
            count(newValue, +1)
        }
    }

    private mutating func count(_ member: FleetMember, _ sign: Int) {
        guard member.state == .active else { return }
        activeCount += sign
        if member.isCurrent { currentCount += sign }
    }

    func index(_ device: String) throws(FleetError) -> Int {
        guard let index = positions[Array(device.utf8)] else {
            throw FleetError(.unknownDevice, "no device \(TopicFilter.quoted(device)) is enrolled")
        }
        return index
    }

    mutating func nextSequence() -> UInt64 {
        sequence += 1
        return sequence
    }
}

import Seal
public import SealKeyring

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The authority's fleet logic, pure: enrolment, grants, least-privilege snapshots, rotation, revocation
/// (Specs/fleet.md §7). It works on values (the authority ``keyring`` and the ``FleetRegistry``); the CLI loads
/// them, calls this, writes both back and publishes the ``Publication``s over MQTT.
///
/// Keys live in **groups**: one key scope per distinct grant filter, created when a grant first names it. A device
/// receives a group's keys only when its grants cover the group's filter, so a grant on `plant/7/#` never yields a
/// key that opens `plant/8/...`.
public struct FleetAuthority: Sendable {
    /// The name of the authority's signing identity in its keyring.
    public static let identityName = "fleet-authority"

    /// The authority keyring: the authority identity and every group key.
    public internal(set) var keyring: Keyring
    /// The registry.
    public internal(set) var registry: FleetRegistry

    /// Wraps a loaded keyring and registry.
    ///
    /// - Throws: ``FleetError`` (`notDevice`) when the keyring has no authority identity.
    public init(keyring: Keyring, registry: FleetRegistry) throws(FleetError) {
        guard keyring.identity(named: Self.identityName) != nil else {
            throw FleetError(.notDevice, "this keyring has no \(Self.identityName) identity; run fleet init")
        }
        self.keyring = keyring
        self.registry = registry
    }

    /// The authority's signing identity.
    public var identity: KeyringIdentity { keyring.identity(named: Self.identityName)! }

    /// A message to publish: a slot (retained, QoS 1) or an empty retained message that clears a revoked slot.
    public struct Publication: Sendable {
        /// The topic.
        public let topic: String
        /// The payload (empty: clear).
        public let payload: [UInt8]
        /// The device.
        public let device: String
        /// The slot sequence (0 for a clear).
        public let sequence: UInt64
    }

    // MARK: Devices and grants

    /// Enrols a device from its verified request.
    ///
    /// - Throws: ``FleetError``: `alreadyExists`; `invalidArgument` for no grant at all or a clash of signer ids.
    public mutating func enroll(
        _ request: EnrolmentRequest, read: [TopicFilter], write: [TopicFilter], now: Date = Date()
    ) throws(FleetError) {
        guard registry.member(request.device) == nil else {
            throw FleetError(.alreadyExists, "device \(request.device) is already enrolled")
        }
        guard !read.isEmpty || !write.isEmpty else {
            throw FleetError(.invalidArgument, "give the device at least one --read or --write filter")
        }
        guard !registry.members.contains(where: { $0.sid == request.sid && $0.state == .active }),
            keyring.identity(request.sid) == nil
        else {
            throw FleetError(.invalidArgument, "signer id \(KeyringID.format(request.sid)) is already in use")
        }
        registry.append(
            FleetMember(
                device: request.device, sid: request.sid, signingKey: request.signingKey,
                recipientKey: request.recipientKey, read: Array(Set(read)).sorted(), write: Array(Set(write)).sorted(),
                state: .active, published: 0, acked: 0, lastSeen: nil, digest: [], cleared: false))
        try ensureGroups(read + write, now: now)
    }

    /// Adds grants to a device.
    public mutating func grant(
        _ device: String, read: [TopicFilter], write: [TopicFilter], now: Date = Date()
    ) throws(FleetError) {
        let index = try activeIndex(device)
        registry[member: index].read = Array(Set(registry[member: index].read + read)).sorted()
        registry[member: index].write = Array(Set(registry[member: index].write + write)).sorted()
        try ensureGroups(read + write, now: now)
    }

    /// Removes grants from a device. Every group the device can no longer read is rekeyed: a new key is staged
    /// (pending) now, to be promoted with ``promote(_:grace:now:)`` once the remaining devices hold it.
    ///
    /// - Returns: the kids of the staged keys.
    @discardableResult
    public mutating func ungrant(
        _ device: String, read: [TopicFilter], write: [TopicFilter], now: Date = Date()
    ) throws(FleetError) -> [UInt32] {
        let index = try activeIndex(device)
        let before = groups(coveredBy: registry[member: index].entitled)
        registry[member: index].read.removeAll { read.contains($0) }
        registry[member: index].write.removeAll { write.contains($0) }
        let after = Set(groups(coveredBy: registry[member: index].entitled))
        return try stageRekey(before.filter { !after.contains($0) }, now: now)
    }

    /// Revokes a device, phase 1: it leaves every roster at once (its signatures are refused as soon as a reader
    /// applies its next slot), its slot is cleared, and every group it could read gets a new staged key. Phase 2 is
    /// ``promote(_:grace:now:)`` of the returned kids: from then on nothing it holds opens new messages. With a
    /// zero grace the predecessors are destroyed in phase 2.
    ///
    /// - Returns: the kids of the staged keys.
    @discardableResult
    public mutating func revoke(_ device: String, now: Date = Date()) throws(FleetError) -> [UInt32] {
        let index = try activeIndex(device)
        let affected = groups(coveredBy: registry[member: index].entitled)
        registry[member: index].state = .revoked
        return try stageRekey(affected, now: now)
    }

    // MARK: Rotation

    /// Phase 1 of a rotation: a new pending key for every group whose filter `topics` covers (all groups when
    /// nil). Devices receive it with their next slots and can open with it before anyone seals with it.
    ///
    /// - Returns: the kids of the pending keys.
    public mutating func stageRotation(topics: [TopicFilter]? = nil, now: Date = Date()) throws(FleetError) -> [UInt32]
    {
        var kids: [UInt32] = []
        for scope in groupScopes {
            guard let filter = scope.filters.first, scope.filters.count == 1 else { continue }
            if let topics, !topics.contains(where: { filter.isCovered(by: $0) }) { continue }
            guard let current = keyring.primary(of: scope) else { continue }
            if keyring.keys.contains(where: { $0.scope == scope && $0.state == .pending }) { continue }
            kids.append(
                try call { (keyring: inout Keyring) throws(KeyringError) in
                    try keyring.addKey(suite: current.suite, scope: scope, now: now)
                })
        }
        return kids
    }

    /// Phase 2 (of a rotation, an ungrant or a revocation): promotes the staged keys. Their predecessors become
    /// decrypt-only until `grace` has passed; then ``expireRetired(now:)`` destroys them (every fleet command
    /// calls it). A zero grace destroys them at once.
    public mutating func promote(_ kids: [UInt32], grace: Duration, now: Date = Date()) throws(FleetError) {
        for kid in kids {
            if let demoted = try call({ (keyring: inout Keyring) throws(KeyringError) in
                try keyring.promote(kid, now: now)
            }) {
                if grace <= .zero {
                    try destroy(demoted)
                } else {
                    registry.retired[demoted] = KeyringTime.seconds(now) + grace.components.seconds
                }
            }
        }
    }

    /// Destroys the retired keys whose grace period has passed.
    ///
    /// - Returns: the kids destroyed.
    @discardableResult
    public mutating func expireRetired(now: Date = Date()) throws(FleetError) -> [UInt32] {
        let nowSeconds = KeyringTime.seconds(now)
        var gone: [UInt32] = []
        for (kid, until) in registry.retired.sorted(by: { $0.key < $1.key }) where nowSeconds >= until {
            try destroy(kid)
            gone.append(kid)
        }
        return gone
    }

    /// Coverage of a set of keys: the fraction of active devices entitled to each key that acknowledged a slot
    /// holding it (a slot at or above `since`).
    public func coverage(since sequence: UInt64) -> (acked: Int, total: Int) {
        let active = registry.members.filter { $0.state == .active }
        return (active.filter { $0.acked >= sequence && $0.acked > 0 }.count, active.count)
    }

    // MARK: Slots

    /// The snapshot of what a device may hold now.
    public func snapshot(for member: FleetMember, sequence: UInt64, now: Date) -> DeviceSnapshot {
        var registry = self.registry
        return snapshot(for: member, sequence: sequence, now: now, writers: Self.writers(&registry))
    }

    /// A device with write grants and its validated key.
    struct Writer {
        let member: FleetMember
        let key: VerifyingKey
    }

    /// The active devices with write grants (computed once per batch of slots, not once per device).
    static func writers(_ registry: inout FleetRegistry) -> [Writer] {
        registry.members.indices.compactMap { index in
            let member = registry[member: index]
            guard member.state == .active, !member.write.isEmpty, let key = registry.verifyingKey(at: index) else {
                return nil
            }
            return Writer(member: member, key: key)
        }
    }

    func snapshot(for member: FleetMember, sequence: UInt64, now: Date, writers: [Writer]) -> DeviceSnapshot {
        let entitled = member.entitled
        let keys = keyring.keys.filter { key in
            key.state.opens && key.sealKey != nil
                && key.scope.filters.allSatisfy { filter in entitled.contains { filter.isCovered(by: $0) } }
        }
        var signers: [KeyringSigner] = []
        let own = Array(member.device.utf8)
        for writer in writers where Array(writer.member.device.utf8) != own {
            let relevant = writer.member.write.filter { filter in entitled.contains { $0.overlaps(filter) } }
            guard !relevant.isEmpty else { continue }
            signers.append(
                KeyringSigner(
                    sid: writer.member.sid, verifyingKey: writer.key, scope: TopicScope(relevant),
                    name: writer.member.device))
        }
        return DeviceSnapshot(
            device: member.device, sequence: sequence, issuedSeconds: KeyringTime.seconds(now), keys: keys,
            signers: signers, read: member.read, write: member.write)
    }

    /// Builds the slots whose content changed since they were last published (every slot when `all`; one device's
    /// when `only` is given), bumps their sequences, and the clears of revoked devices' slots not yet cleared.
    public mutating func publications(
        all: Bool = false, only device: String? = nil, now: Date = Date()
    ) throws(FleetError) -> [Publication] {
        var out: [Publication] = []
        let signingKey = identity.signingKey
        let wanted = device.map { Array($0.utf8) }
        let writers = Self.writers(&registry)
        let epoch = Date(timeIntervalSince1970: 0)
        for index in registry.members.indices {
            let member = registry[member: index]
            if let wanted, Array(member.device.utf8) != wanted { continue }
            if member.state == .revoked {
                if !member.cleared {
                    out.append(
                        Publication(
                            topic: registry.topics.slot(member.device), payload: [], device: member.device,
                            sequence: 0))
                    registry[member: index].cleared = true
                }
                continue
            }
            // The digest covers the content only (sequence 0, epoch), so an unchanged device is skipped.
            let content = snapshot(for: member, sequence: 0, now: epoch, writers: writers)
            var contentBytes = content.encode()
            let digest = KeyringSodium.hash(contentBytes)
            KeyringCredential.wipe(&contentBytes)
            if !all && digest == member.digest && member.published > 0 { continue }
            let sequence = registry.nextSequence()
            var plaintext = content.issued(sequence: sequence, seconds: KeyringTime.seconds(now)).encode()
            defer { KeyringCredential.wipe(&plaintext) }
            let slot = try KeySlot.seal(
                plaintext, device: member.device, sequence: sequence, recipient: member.recipientKey,
                authority: signingKey)
            registry[member: index].published = sequence
            registry[member: index].digest = digest
            out.append(
                Publication(
                    topic: registry.topics.slot(member.device), payload: slot, device: member.device,
                    sequence: sequence))
        }
        return out
    }

    /// Records a device's report if it is signed by that device.
    ///
    /// - Returns: the report.
    /// - Throws: ``FleetError`` (`reportRejected`, `unknownDevice`).
    @discardableResult
    public mutating func record(report bytes: [UInt8], now: Date = Date()) throws(FleetError) -> FleetReport {
        let (report, signature) = try FleetReport.decode(bytes)
        let index = try registry.index(report.device)
        let member = registry[member: index]
        guard let key = registry.verifyingKey(at: index), report.isSigned(by: key, signature: signature)
        else {
            throw FleetError(.reportRejected, "report from \(report.device) is not signed by that device")
        }
        registry[member: index].lastSeen = KeyringTime.seconds(now)
        if report.kind == .ack, report.sequence <= member.published, report.sequence > member.acked {
            registry[member: index].acked = report.sequence
        }
        return report
    }

    // MARK: Helpers

    /// The scopes of the fleet's key groups (one filter each), sorted.
    public var groupScopes: [TopicScope] {
        var seen = Set<TopicScope>()
        var out: [TopicScope] = []
        for key in keyring.keys where key.state != .destroyed && key.state != .disabled {
            if seen.insert(key.scope).inserted { out.append(key.scope) }
        }
        return out.sorted { $0.description < $1.description }
    }

    func groups(coveredBy entitled: [TopicFilter]) -> [TopicScope] {
        groupScopes.filter { scope in
            scope.filters.allSatisfy { filter in entitled.contains { filter.isCovered(by: $0) } }
        }
    }

    private mutating func ensureGroups(_ filters: [TopicFilter], now: Date) throws(FleetError) {
        for filter in Set(filters).sorted() {
            let scope = TopicScope([filter])
            if keyring.primary(of: scope) != nil { continue }
            let kid = try call { (keyring: inout Keyring) throws(KeyringError) in
                try keyring.addKey(scope: scope, now: now)
            }
            try call { (keyring: inout Keyring) throws(KeyringError) in try keyring.promote(kid, now: now) }
        }
    }

    private mutating func stageRekey(_ scopes: [TopicScope], now: Date) throws(FleetError) -> [UInt32] {
        var fresh: [UInt32] = []
        for scope in scopes {
            guard let current = keyring.primary(of: scope) else { continue }
            // A key staged earlier may already be held by the leaver: withdraw it, stage a new one.
            for key in keyring.keys where key.scope == scope && key.state == .pending { try destroy(key.kid) }
            fresh.append(
                try call { (keyring: inout Keyring) throws(KeyringError) in
                    try keyring.addKey(suite: current.suite, scope: scope, now: now)
                })
        }
        return fresh
    }

    private mutating func destroy(_ kid: UInt32) throws(FleetError) {
        guard keyring.key(kid) != nil else { return }
        if keyring.key(kid)?.state == .primary {
            try call { (keyring: inout Keyring) throws(KeyringError) in try keyring.transition(kid, to: .decryptOnly) }
        }
        if keyring.key(kid)?.state == .pending || keyring.key(kid)?.state == .decryptOnly {
            try call { (keyring: inout Keyring) throws(KeyringError) in try keyring.transition(kid, to: .disabled) }
        }
        if keyring.key(kid)?.state == .disabled {
            try call { (keyring: inout Keyring) throws(KeyringError) in try keyring.destroy(kid) }
        }
        registry.retired[kid] = nil
    }

    private func activeIndex(_ device: String) throws(FleetError) -> Int {
        let index = try registry.index(device)
        guard registry[member: index].state == .active else {
            throw FleetError(.invalidArgument, "device \(device) is revoked")
        }
        return index
    }

    @discardableResult
    private mutating func call<R>(_ body: (inout Keyring) throws(KeyringError) -> R) throws(FleetError) -> R {
        do {
            return try body(&keyring)
        } catch {
            throw FleetError(keyring: error)
        }
    }
}

extension FleetAuthority {
    /// Marks devices' slots as not delivered, so the next ``publications(all:only:now:)`` builds them again (after a
    /// publish that failed part way: their sequences were saved, their content may not have arrived).
    public mutating func markUndelivered(_ devices: [String]) {
        let wanted = Set(devices.map { Array($0.utf8) })
        for index in registry.members.indices where wanted.contains(Array(registry[member: index].device.utf8)) {
            registry[member: index].digest = []
            if registry[member: index].state == .revoked { registry[member: index].cleared = false }
        }
    }

    /// The devices that have not acknowledged their latest slot.
    public var devicesBehind: [FleetMember] {
        registry.members.filter { $0.state == .active && !$0.isCurrent }
    }

    /// Coverage of the active devices' latest slots: how many acknowledged them.
    public var currentCoverage: (current: Int, total: Int) {
        (registry.currentCount, registry.activeCount)
    }

    /// Per key: the active devices entitled to it and how many of them acknowledged a slot that holds it (their
    /// latest slot, when they are current).
    public func keyCoverage() -> [(key: KeyringKey, current: Int, entitled: Int)] {
        keyring.keys.filter { $0.state.opens }.map { key in
            let entitled = registry.members.filter { member in
                member.state == .active
                    && key.scope.filters.allSatisfy { filter in member.entitled.contains { filter.isCovered(by: $0) } }
            }
            return (key, entitled.filter(\.isCurrent).count, entitled.count)
        }
    }

    /// The slot of one device, built again with a new sequence (to answer a request).
    public mutating func republish(_ device: String, now: Date = Date()) throws(FleetError) -> Publication? {
        markUndelivered([device])
        return try publications(only: device, now: now).first
    }
}

// How the receive path's costs grow with the work, each measured in one process (`Scripts/bench-scale`):
//   - replay guard: memory per active sender at 1 / 1,000 / 100,000 senders (a few messages each), and at 1,000
//     senders that each filled their window;
//   - topic routing: one subscription with 1 / 100 / 10,000 filters (`SubscriptionMatcher`, what the MQTT client routes with),
//     nanoseconds per message;
//   - keyring lookup: keyrings of 1 / 1,000 / 10,000 / 100,000 primary keys with disjoint filters, nanoseconds per
//     `sealer(for:)` (sealing's lookup), per `publishingSealer(for:kind:)` (the sealed client's, remembered per
//     topic) and per `open` (opening's lookup, through the keyring's topic ACL).
// Memory is the process's resident size before and after the guard fills (page-granular: meaningful from about a
// thousand senders), so it counts every byte the guard holds, dictionary and arrays included.
import Glibc
import MQTT
import Seal
import SealKeyring

func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// Resident bytes (`/proc/self/statm`): page-granular, so meaningful from about a thousand senders up.
func heapInUse() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, Int32(line.count), file) != nil else { return 0 }
    let fields = String(cString: line).split(separator: " ")
    guard fields.count > 1, let resident = Int(fields[1]) else { return 0 }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

struct SetupFailure: Error, CustomStringConvertible {
    let description: String
}

/// Bytes per sender the guard holds after `senders` senders each sent `messages` messages.
func replayGuardBytes(senders: Int, messages: Int) throws -> (bytes: Double, nanoseconds: Double) {
    let key = try SealKey(id: 1, suite: .hmacSHA256, bytes: [UInt8](repeating: 7, count: 32))
    let sealers = try (0..<senders).map { try Sealer(key: key, senderID: UInt32($0 + 1)) }
    let payload = [UInt8](repeating: 1, count: 16)
    var envelopes: [[UInt8]] = []
    envelopes.reserveCapacity(senders * messages)
    for _ in 0..<messages {
        for sealer in sealers { envelopes.append(try sealer.seal(payload, topic: "scale/t")) }
    }
    let before = heapInUse()
    let guardian = ReplayGuard(policy: ReplayPolicy(maxSenders: max(senders, 1)))
    let opener = Opener(keys: KeySet(keys: [key]), replayGuard: guardian)
    let start = nanoseconds()
    for envelope in envelopes { blackHole(try opener.open(envelope, topic: "scale/t")) }
    let elapsed = nanoseconds() - start
    let after = heapInUse()
    guard guardian.trackedSenders == senders else { throw SetupFailure(description: "guard lost senders") }
    withExtendedLifetime(opener) {}
    return (Double(after - before) / Double(senders), Double(elapsed) / Double(envelopes.count))
}

/// Nanoseconds to route one message through a subscription of `count` filters (the last one matches), with the
/// MQTT client's own routing matcher (a trie above four filters).
func routing(filters count: Int) -> Double {
    var filters = (0..<(count - 1)).map { "site/\($0)/+/temperature" }
    filters.append("plant/+/press/#")
    let matcher = SubscriptionMatcher(filters: filters)
    let topics = (0..<64).map { "plant/line-\($0)/press/17/telemetry" }
    let rounds = 200_000  // the same for every size: a short run is dominated by its first, cold lookups
    var matched = 0
    let start = nanoseconds()
    for round in 0..<rounds where matcher.matches(topics[round % topics.count]) { matched += 1 }
    let elapsed = nanoseconds() - start
    blackHole(matched)
    return Double(elapsed) / Double(rounds)
}

/// Nanoseconds per `sealer(for:)` and per `open` with a keyring of `count` primary keys, each on its own filter.
func keyringLookup(
    keys count: Int
) throws -> (build: Double, first: Double, seal: Double, publishing: Double, open: Double) {
    // Built in one step (`addKey` checks the invariants per key, which is quadratic over 100,000 keys).
    let keys = try (0..<count).map { index in
        let kid = UInt32(index + 1)
        return KeyringKey(
            kid: kid, suite: .xchacha20poly1305, state: .primary, scope: try TopicScope(parsing: ["zone/\(index)/#"]),
            sealKey: try SealKey(
                id: kid, suite: .xchacha20poly1305, bytes: (0..<32).map { UInt8(($0 + index) & 0xFF) }),
            createdSeconds: 1_767_225_600, notAfterSeconds: nil)
    }
    let buildStart = nanoseconds()
    let snapshot = KeyringSnapshot(try Keyring(keys: keys))
    let build = Double(nanoseconds() - buildStart) / 1e6
    let topics = (0..<64).map { "zone/\(($0 * 7919) % count)/sensor" }
    let lookups = 20_000
    // The first lookup of a topic scans the primaries; later ones hit the snapshot's per-topic memory.
    var start = nanoseconds()
    for topic in topics { blackHole(try snapshot.sealer(for: topic, sign: false)) }
    let first = Double(nanoseconds() - start) / Double(topics.count)
    start = nanoseconds()
    for index in 0..<lookups { blackHole(try snapshot.sealer(for: topics[index % topics.count], sign: false)) }
    let seal = Double(nanoseconds() - start) / Double(lookups)
    // What SealedMQTTClient asks for on every publish: the sealer remembered per topic and kind.
    for topic in topics { blackHole(try snapshot.publishingSealer(for: topic, kind: .unsigned)) }
    start = nanoseconds()
    for index in 0..<lookups {
        blackHole(try snapshot.publishingSealer(for: topics[index % topics.count], kind: .unsigned))
    }
    let publishing = Double(nanoseconds() - start) / Double(lookups)
    let sealer = try snapshot.sealer(for: topics[0], sign: false)
    let payload = [UInt8](repeating: 1, count: 64)
    let envelopes = try (0..<lookups).map { _ in try sealer.seal(payload, topic: topics[0]) }
    let opener = Opener(keys: snapshot, replayGuard: ReplayGuard())
    start = nanoseconds()
    for envelope in envelopes { blackHole(try opener.open(envelope, topic: topics[0])) }
    let open = Double(nanoseconds() - start) / Double(lookups)
    return (build, first, seal, publishing, open)
}

func format(_ value: Double) -> String { String(Int(value.rounded())) }

/// `SealScale replay SENDERS MESSAGES` prints one replay-guard row (one case per process, so that no earlier
/// case's freed memory is reused); `SealScale routing` and `SealScale keys` print their tables.
do {
    let arguments = CommandLine.arguments.dropFirst()
    switch arguments.first {
    case "replay":
        guard arguments.count == 3, let senders = Int(arguments[arguments.startIndex + 1]),
            let messages = Int(arguments[arguments.startIndex + 2]), senders > 0, messages > 0
        else { throw SetupFailure(description: "usage: SealScale replay SENDERS MESSAGES") }
        let result = try replayGuardBytes(senders: senders, messages: messages)
        print("| \(senders) | \(messages) | \(format(result.bytes)) | \(format(result.nanoseconds)) |")
    case "routing":
        print("| filters on the subscription | ns per routed message |")
        print("| --- | --- |")
        for count in [1, 100, 10_000] { print("| \(count) | \(format(routing(filters: count))) |") }
    case "keys":
        print(
            "| primary keys in the keyring | snapshot build ms | first sealer(for:) of a topic ns "
                + "| later sealer(for:) ns | later publishing sealer ns | open ns (64 B) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for count in [1, 1_000, 10_000, 100_000] {
            let result = try keyringLookup(keys: count)
            print(
                "| \(count) | \(format(result.build)) | \(format(result.first)) | \(format(result.seal)) "
                    + "| \(format(result.publishing)) | \(format(result.open)) |")
        }
    default:
        throw SetupFailure(description: "usage: SealScale replay SENDERS MESSAGES | routing | keys")
    }
} catch {
    print("seal-scale: \(error)")
    exit(64)
}

// Seal against the raw call it wraps, interleaved finely: blocks of a few milliseconds of `seal`, `seal into` and
// the raw libsodium / OpenSSL call alternate, and each ratio is taken within one block triple. Interference on a
// shared machine comes in bursts of seconds, so it lands on both sides of a ratio and the median over many
// triples shows the envelope's own cost. The package-benchmark suite (Benchmarks/SealBenchmarks) measures each
// benchmark for seconds in turn, which on this VM scatters its ratios widely. `Scripts/bench-seal-interleaved`
// runs this in release mode.
import RawCrypto
import Seal

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let sizes = [16, 64, 256, 1024, 16384]
let topic = "plant/line-4/press-17/telemetry"
let triples = 60

@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Runs `body` `count` times and returns the elapsed nanoseconds.
@inline(__always)
func timed(_ count: Int, _ body: () throws -> Void) rethrows -> UInt64 {
    let start = nanoseconds()
    for _ in 0..<count { try body() }
    return nanoseconds() - start
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// One suite: a sealer and the raw call for a payload size, each writing `bytes` into `output`.
struct Contestants {
    let sealer: Sealer
    let raw: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) -> Bool
}

func contestants(_ suite: Suite, key: [UInt8], aad: [UInt8], nonce: [UInt8]) throws -> Contestants {
    let sealKey = try SealKey(id: 1, suite: suite, bytes: key)
    let sealer = try Sealer(key: sealKey)
    switch suite {
    case .aes256gcm:
        let raw = key.withUnsafeBytes { RawAES256GCM(key: $0)! }
        return Contestants(sealer: sealer) { message, out in
            aad.withUnsafeBytes { a in
                nonce.withUnsafeBytes { n in
                    raw.encrypt(output: out, message: message, aad: a, iv: UnsafeRawBufferPointer(rebasing: n[0..<12]))
                }
            }
        }
    case .hmacSHA256:
        let raw = key.withUnsafeBytes { RawHMACSHA256(key: $0)! }
        return Contestants(sealer: sealer) { message, out in raw.authenticate(output: out, message: message) }
    default:
        return Contestants(sealer: sealer) { message, out in
            aad.withUnsafeBytes { a in
                nonce.withUnsafeBytes { n in
                    key.withUnsafeBytes { k in
                        RawCrypto.xchacha20poly1305Encrypt(output: out, message: message, aad: a, nonce: n, key: k)
                    }
                }
            }
        }
    }
}

func run() throws {
    let key = (0..<32).map { UInt8($0) }
    let aad = [UInt8](repeating: 0xA5, count: 17 + 2 + topic.utf8.count + 4)
    let nonce = [UInt8](repeating: 0x11, count: 24)
    print("| suite | size | seal / raw | seal into / raw | raw (ns) | seal (ns) | seal into (ns) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for suite in [Suite.xchacha20poly1305, .aes256gcm, .hmacSHA256] {
        let pair = try contestants(suite, key: key, aad: aad, nonce: nonce)
        for size in sizes {
            let payload = [UInt8](repeating: 0x42, count: size)
            var output = [UInt8](repeating: 0, count: size + 128)
            let count = size >= 16384 ? 100 : 2000
            var sealRatios: [Double] = []
            var intoRatios: [Double] = []
            var sums: (raw: UInt64, seal: UInt64, into: UInt64) = (0, 0, 0)
            try payload.withUnsafeBytes { message in
                try output.withUnsafeMutableBytes { out in
                    for triple in -3..<triples {  // three warm-up triples
                        // Rotate the order so that no side always runs first.
                        var times: [Int: UInt64] = [:]
                        for slot in 0..<3 {
                            let which = (slot + max(triple, 0)) % 3
                            switch which {
                            case 0: times[0] = timed(count) { blackHole(pair.raw(message, out)) }
                            case 1:
                                times[1] = try timed(count) { blackHole(try pair.sealer.seal(message, topic: topic)) }
                            default:
                                times[2] = try timed(count) {
                                    blackHole(try pair.sealer.seal(message, topic: topic, into: out))
                                }
                            }
                        }
                        guard triple >= 0, let raw = times[0], let seal = times[1], let into = times[2] else {
                            continue
                        }
                        sealRatios.append(Double(raw) / Double(seal))
                        intoRatios.append(Double(raw) / Double(into))
                        sums = (sums.raw + raw, sums.seal + seal, sums.into + into)
                    }
                }
            }
            let total = Double(triples * count)
            func ns(_ value: UInt64) -> String { String(Int((Double(value) / total).rounded())) }
            func ratio(_ values: [Double]) -> String {
                let hundredths = Int((median(values) * 100).rounded())
                return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)×"
            }
            print(
                "| \(suite) | \(size) B | \(ratio(sealRatios)) | \(ratio(intoRatios)) | \(ns(sums.raw)) | "
                    + "\(ns(sums.seal)) | \(ns(sums.into)) |")
        }
    }
}

/// A setup step that cannot fail unless the benchmark itself is wrong.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `open` (header, key lookup, freshness, AEAD, replay guard, payload array) against the bare decrypt it wraps, for
/// XChaCha20-Poly1305, with a key set of `keyCount` keys. Every `open` gets a fresh envelope (sealed beforehand, in
/// order, by one sender), so the replay guard records each one as in real traffic; the raw call decrypts one
/// ciphertext again and again.
func runOpen(size: Int, keyCount: Int) throws -> String {
    let key = (0..<32).map { UInt8($0) }
    var keys = [try SealKey(id: 1, suite: .xchacha20poly1305, bytes: key)]
    for id in 2...max(keyCount, 2) where keys.count < keyCount {
        keys.append(
            try SealKey(id: UInt32(id), suite: .xchacha20poly1305, bytes: (0..<32).map { _ in .random(in: 0...255) }))
    }
    let sealer = try Sealer(key: keys[0], senderID: 7)
    let count = size >= 1024 ? 500 : 2000
    let blocks = 2 * (triples + 3)
    let payload = [UInt8](repeating: 0x42, count: size)
    let stride = size + 41
    var envelopes = [UInt8](repeating: 0, count: stride * count * blocks)
    try payload.withUnsafeBytes { message in
        try envelopes.withUnsafeMutableBytes { all in
            for index in 0..<(count * blocks) {
                let slot = UnsafeMutableRawBufferPointer(rebasing: all[(index * stride)..<((index + 1) * stride)])
                guard try sealer.seal(message, topic: topic, into: slot) == stride else {
                    throw BenchFailure("setup failed")
                }
            }
        }
    }
    let opener = Opener(keys: KeySet(keys: keys), replayGuard: ReplayGuard())
    let aad = [UInt8](repeating: 0xA5, count: 17 + 2 + topic.utf8.count + 4)
    let nonce = [UInt8](repeating: 0x11, count: 24)
    var ciphertext = [UInt8](repeating: 0, count: size + 16)
    var output = [UInt8](repeating: 0, count: size + 16)
    let encrypted = ciphertext.withUnsafeMutableBytes { out in
        payload.withUnsafeBytes { message in
            aad.withUnsafeBytes { a in
                nonce.withUnsafeBytes { n in
                    key.withUnsafeBytes { k in
                        RawCrypto.xchacha20poly1305Encrypt(output: out, message: message, aad: a, nonce: n, key: k)
                    }
                }
            }
        }
    }
    guard encrypted else { throw BenchFailure("setup failed") }
    var openRatios: [Double] = []
    var intoRatios: [Double] = []
    var sums: (raw: UInt64, open: UInt64, into: UInt64) = (0, 0, 0)
    var next = 0
    try envelopes.withUnsafeBytes { all in
        try ciphertext.withUnsafeBytes { sealed in
            try output.withUnsafeMutableBytes { out in
                try aad.withUnsafeBytes { a in
                    try nonce.withUnsafeBytes { n in
                        try key.withUnsafeBytes { k in
                            for triple in -3..<triples {
                                var times: [Int: UInt64] = [:]
                                for slot in 0..<3 {
                                    // Rotate the order, so no contender always runs first or last.
                                    switch (slot + max(triple, 0)) % 3 {
                                    case 0:
                                        times[0] = timed(count) {
                                            blackHole(
                                                RawCrypto.xchacha20poly1305Decrypt(
                                                    output: out, ciphertext: sealed, aad: a, nonce: n, key: k))
                                        }
                                    case 1:
                                        times[1] = try timed(count) {
                                            let envelope = UnsafeRawBufferPointer(
                                                rebasing: all[(next * stride)..<((next + 1) * stride)])
                                            next += 1
                                            blackHole(try opener.open(envelope, topic: topic))
                                        }
                                    default:
                                        times[2] = try timed(count) {
                                            let envelope = UnsafeRawBufferPointer(
                                                rebasing: all[(next * stride)..<((next + 1) * stride)])
                                            next += 1
                                            blackHole(try opener.open(envelope, topic: topic, into: out))
                                        }
                                    }
                                }
                                guard triple >= 0, let raw = times[0], let open = times[1], let into = times[2]
                                else { continue }
                                openRatios.append(Double(raw) / Double(open))
                                intoRatios.append(Double(raw) / Double(into))
                                sums = (sums.raw + raw, sums.open + open, sums.into + into)
                            }
                        }
                    }
                }
            }
        }
    }
    let total = Double(triples * count)
    func ratio(_ values: [Double]) -> String {
        let hundredths = Int((median(values) * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)×"
    }
    func ns(_ value: UInt64) -> String { String(Int((Double(value) / total).rounded())) }
    return "| xchacha20poly1305 | \(size) B | \(keyCount) | \(ratio(openRatios)) | \(ratio(intoRatios)) | "
        + "\(ns(sums.raw)) | \(ns(sums.open)) | \(ns(sums.into)) |"
}

do {
    try run()
    print("")
    print(
        "| suite | size | keys | open / raw decrypt | open into / raw decrypt | raw (ns) | open (ns) | open into (ns) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (size, keyCount) in [(16, 1), (64, 1), (256, 1), (1024, 1), (64, 1_000)] {
        print(try runOpen(size: size, keyCount: keyCount))
    }
} catch {
    print("seal-interleaved: \(error)")
    exit(70)
}

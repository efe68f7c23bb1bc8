import CSodium

/// Makes libsodium's CSPRNG deterministic for this process, so the generated vectors are the same on
/// every run: every `randombytes_*` call (the nonce pool refills, random sender ids) draws from
/// `randombytes_buf_deterministic` keyed by a fixed seed and a call counter.
///
/// Must run before anything initialises libsodium (`randombytes_set_implementation` requirement).
/// Only this generator does this; the library itself always uses the system CSPRNG.
enum DeterministicRandom {
    /// Installs the deterministic implementation. Idempotent.
    static func install() {
        _ = installed
    }

    private static let installed: Void = {
        implementation.initialize(
            to: randombytes_implementation(
                implementation_name: { UnsafePointer(namePointer) },
                random: {
                    var value: UInt32 = 0
                    withUnsafeMutableBytes(of: &value) { draw($0.baseAddress!, $0.count) }
                    return value
                },
                stir: {},
                uniform: { upper in
                    guard upper >= 2 else { return 0 }
                    var value: UInt32 = 0
                    withUnsafeMutableBytes(of: &value) { draw($0.baseAddress!, $0.count) }
                    return value % upper
                },
                buf: { buffer, size in
                    if let buffer, size > 0 { draw(buffer, size) }
                },
                close: { 0 }
            ))
        precondition(randombytes_set_implementation(implementation) == 0, "libsodium was initialised too early")
        precondition(sodium_init() >= 0, "sodium_init failed")
    }()

    /// Storage libsodium keeps a pointer to for the process lifetime.
    nonisolated(unsafe) private static let implementation = UnsafeMutablePointer<randombytes_implementation>
        .allocate(capacity: 1)
    nonisolated(unsafe) private static let namePointer: UnsafeMutablePointer<CChar> = {
        let name = Array("mqtt-seal-vectors".utf8CString)
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: name.count)
        pointer.initialize(from: name, count: name.count)
        return pointer
    }()
    /// Draws made so far; the generator is single-threaded.
    nonisolated(unsafe) private static var counter: UInt64 = 0

    /// Fills `size` bytes from seed = "mqtt-seal vectors v1" (zero-padded to 32 bytes) with the draw
    /// counter in its last 8 bytes.
    private static func draw(_ buffer: UnsafeMutableRawPointer, _ size: Int) {
        var seed = [UInt8](repeating: 0, count: Int(randombytes_SEEDBYTES))
        let label = Array("mqtt-seal vectors v1".utf8)
        seed.replaceSubrange(0..<label.count, with: label)
        withUnsafeBytes(of: counter.bigEndian) { seed.replaceSubrange(24..<32, with: $0) }
        counter += 1
        randombytes_buf_deterministic(buffer, size, seed)
    }
}

import Testing

@testable import Seal

#if canImport(Glibc)
import Glibc
#endif

@Suite("Primitive behaviour beyond the vectors")
struct PrimitiveBehaviourTests {
    @Test("the nonce pool hands out distinct bytes across many refills, at every draw size")
    func randomPool() {
        var pool = NoncePool()
        var seen = Set<[UInt8]>()
        var draws = 0
        for size in [8, 12, 24, 1, 4095, 4096] {
            for _ in 0..<(size >= 4095 ? 4 : 3000) {
                var bytes = [UInt8](repeating: 0, count: size)
                bytes.withUnsafeMutableBytes { pool.fill($0.baseAddress!, count: size) }
                if size >= 8 { seen.insert(bytes) }
                draws += 1
            }
        }
        // 1-byte draws can collide by chance; every draw of 8 bytes or more must be unique.
        #expect(seen.count == draws - 3000)
        var empty: [UInt8] = [1]
        empty.withUnsafeMutableBytes { pool.fill($0.baseAddress!, count: 0) }
        #expect(empty == [1])
    }

    @Test("threads drawing from their own pools at once never get the same nonce bytes")
    func randomPoolThreads() async {
        let perTask = 4000
        // Detached tasks spread over the cooperative pool's threads; every draw is 8 bytes (an XChaCha nonce tail).
        let draws = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var values: [UInt64] = []
                    values.reserveCapacity(perTask)
                    for _ in 0..<perTask {
                        var value: UInt64 = 0
                        withUnsafeMutableBytes(of: &value) { RandomPool.fill($0.baseAddress!, count: 8) }
                        values.append(value)
                    }
                    return values
                }
            }
            var all: [UInt64] = []
            for await values in group { all += values }
            return all
        }
        #expect(draws.count == 8 * perTask)
        // 32,000 random 64-bit values collide with probability about 2^-35; equal values mean shared pool bytes.
        #expect(Set(draws).count == draws.count)
    }

    @Test("a forked child refills its pool first: parent and child never hand out the same nonce bytes")
    func randomPoolAfterFork() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        // Draw once so this thread's pool holds bytes the child inherits; no suspension from here to fork, so
        // the child continues on the thread that owns this pool.
        var warm: UInt64 = 0
        withUnsafeMutableBytes(of: &warm) { RandomPool.fill($0.baseAddress!, count: 8) }
        let pid = fork()
        if pid == 0 {
            // The child: no allocation, no locks; draw, report, leave.
            var drawn: UInt64 = 0
            withUnsafeMutableBytes(of: &drawn) { RandomPool.fill($0.baseAddress!, count: 8) }
            let written = withUnsafeBytes(of: &drawn) { write(fds[1], $0.baseAddress, 8) }
            _exit(written == 8 ? 0 : 1)
        }
        try #require(pid > 0)
        var parent: UInt64 = 0
        withUnsafeMutableBytes(of: &parent) { RandomPool.fill($0.baseAddress!, count: 8) }
        var child: UInt64 = 0
        let got = withUnsafeMutableBytes(of: &child) { read(fds[0], $0.baseAddress, 8) }
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        #expect(got == 8)
        #expect(status == 0)
        // Without the fork handler both would take the same next 8 bytes of the inherited pool.
        #expect(child != parent)
        #expect(child != warm && parent != warm)
    }

    @Test("suite metadata agrees with the mode check the opener uses")
    func suiteModes() {
        for suite in Suite.allCases {
            for mode in SealMode.allCases {
                #expect(suite.allows(mode) == suite.allowedModes.contains(mode), "\(suite) \(mode)")
            }
            #expect(Suite(rawValue: suite.rawValue) == suite)
        }
        #expect(Suite(rawValue: "hmac-sha256") == .hmacSHA256)
        #expect(!Suite.ed25519.isSymmetric)
    }

    @Test("AES-GCM and HMAC contexts survive a failed open and keep working")
    func contextsRecover() throws {
        for suite in [Suite.aes256gcm, .hmacSHA256] {
            let key = try SealKey.generate(id: 1, suite: suite)
            let sealer = try Sealer(key: key)
            let opener = Opener(keys: KeySet(keys: [key]), replayGuard: nil)
            var good = try sealer.seal([1, 2, 3], topic: "t")
            var bad = good
            bad[bad.count - 1] ^= 0xFF
            for _ in 0..<3 {
                expectRejected(.authenticationFailed) { _ = try opener.open(bad, topic: "t") }
                #expect(try opener.open(good, topic: "t").payload == [1, 2, 3])
                good = try sealer.seal([1, 2, 3], topic: "t")
            }
        }
    }
}

/// A key source that acts as an access-control list: keys and signers only on their topic prefix.
struct PrefixKeySource: SealKeySource {
    let prefix: String
    let keys: KeySet

    func key(id: UInt32, topic: String) -> SealKey? {
        topic.hasPrefix(prefix) ? keys.key(id: id, topic: topic) : nil
    }

    func signer(id: UInt32, topic: String) -> VerifyingKey? {
        topic.hasPrefix(prefix) ? keys.signer(id: id, topic: topic) : nil
    }
}

@Suite("Key sources")
struct KeySourceTests {
    @Test("the opener asks the key source with the concrete topic, so a source can refuse per topic")
    func topicAwareLookup() throws {
        let clock = TestClock()
        let key = try SealKey.generate(id: 5)
        let signing = try SigningKey.generate(id: 6)
        let source = PrefixKeySource(prefix: "allowed/", keys: KeySet(keys: [key], signers: [signing.verifyingKey]))
        let opener = Opener(keys: source, replayGuard: ReplayGuard(clock: clock.closure))
        let sealer = try Sealer(key: key, clock: clock.closure)
        let signer = try Sealer(signingKey: signing, clock: clock.closure)
        #expect(try opener.open(try sealer.seal([1], topic: "allowed/x"), topic: "allowed/x").payload == [1])
        expectRejected(.unknownKey) { _ = try opener.open(try sealer.seal([1], topic: "other/x"), topic: "other/x") }
        #expect(try opener.open(try signer.seal([2], topic: "allowed/y"), topic: "allowed/y").signer == 6)
        expectRejected(.untrustedSigner) {
            _ = try opener.open(try signer.seal([2], topic: "other/y"), topic: "other/y")
        }
    }

    @Test("KeySet: the last key with an id wins; lookups ignore the topic")
    func keySet() throws {
        let first = try SealKey.generate(id: 1)
        let second = try SealKey.generate(id: 1, suite: .aes256gcm)
        let set = KeySet(keys: [first, second])
        #expect(set.key(id: 1, topic: "a")?.suite == .aes256gcm)
        #expect(set.key(id: 2, topic: "a") == nil)
        #expect(set.signer(id: 1, topic: "a") == nil)
    }
}

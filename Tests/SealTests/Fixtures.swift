import Synchronization
import Testing

@testable import Seal

/// A manual clock (Unix milliseconds) for deterministic freshness and sequence tests.
final class TestClock: Sendable {
    private let value: Atomic<UInt64>

    init(_ start: UInt64 = 1_764_000_000_000) { value = Atomic(start) }

    var now: UInt64 { value.load(ordering: .relaxed) }

    func advance(by milliseconds: UInt64) { value.add(milliseconds, ordering: .relaxed) }

    func set(_ milliseconds: UInt64) { value.store(milliseconds, ordering: .relaxed) }

    var closure: @Sendable () -> UInt64 { { [self] in self.now } }
}

/// One sealing configuration: a suite and a mode, with matching sealer and opener.
struct Configuration: CustomStringConvertible, Sendable {
    let suite: Suite
    let mode: SealMode

    var description: String { "\(suite)/\(mode)" }

    /// Every valid suite x mode combination.
    static let all: [Configuration] = [
        Configuration(suite: .xchacha20poly1305, mode: .encrypt),
        Configuration(suite: .xchacha20poly1305, mode: .encryptAndSign),
        Configuration(suite: .aes256gcm, mode: .encrypt),
        Configuration(suite: .aes256gcm, mode: .encryptAndSign),
        Configuration(suite: .hmacSHA256, mode: .mac),
        Configuration(suite: .ed25519, mode: .sign),
    ]
}

/// Keys, sealer and opener for one configuration on one clock.
struct Harness {
    let clock: TestClock
    let key: SealKey?
    let signingKey: SigningKey?
    let sealer: Sealer
    let opener: Opener

    init(
        _ configuration: Configuration, clock: TestClock = TestClock(), policy: ReplayPolicy = ReplayPolicy(),
        senderID: UInt32? = nil
    ) throws {
        self.clock = clock
        let signing = configuration.mode.isSigned ? try SigningKey.generate(id: 0x5151_0001) : nil
        signingKey = signing
        if configuration.mode == .sign {
            key = nil
            sealer = try Sealer(signingKey: signing!, clock: clock.closure)
        } else {
            let key = try SealKey.generate(id: 0xABCD_0001, suite: configuration.suite)
            self.key = key
            sealer = try Sealer(
                key: key, signingKey: signing, senderID: signing == nil ? senderID : nil, clock: clock.closure)
        }
        opener = Opener(
            keys: KeySet(keys: key.map { [$0] } ?? [], signers: signing.map { [$0.verifyingKey] } ?? []),
            replayGuard: ReplayGuard(policy: policy, clock: clock.closure))
    }

    /// A fresh opener with the same keys and a new replay guard on the same clock.
    func freshOpener(policy: ReplayPolicy = ReplayPolicy()) -> Opener {
        Opener(keys: opener.keys, replayGuard: ReplayGuard(policy: policy, clock: clock.closure))
    }
}

/// Expects `body` to throw a rejection (code `.rejected`), optionally with a given reason.
func expectRejected(
    _ reason: SealError.Reason? = nil, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record(
            "expected a rejection \(reason.map { "(\($0))" } ?? ""): \(comment?.rawValue ?? "")",
            sourceLocation: sourceLocation)
    } catch let error as SealError {
        #expect(error.code == .rejected, "\(comment?.rawValue ?? "")", sourceLocation: sourceLocation)
        if let reason {
            #expect(error.reason == reason, "\(comment?.rawValue ?? "")", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("not a SealError: \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw a local misuse error with `code`.
func expectMisuse(
    _ code: SealError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(code)", sourceLocation: sourceLocation)
    } catch let error as SealError {
        #expect(error.code == code, sourceLocation: sourceLocation)
        #expect(error.code != .rejected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("not a SealError: \(error)", sourceLocation: sourceLocation)
    }
}

/// Deterministic pseudo-random bytes (SplitMix64) for reproducible fuzz-style tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

import Seal

/// The most signed messages per second this machine could carry end to end, computed in the same run from measured
/// costs: every message is signed once and verified once, and also costs what a plaintext message costs the harness
/// process and the broker. `cores × 10^6 / (sign + verify + plaintext client CPU + broker CPU)` µs.
public struct BenchSignedCeiling: Codable, Sendable, Hashable {
    /// One Ed25519 signature over a message of the envelope's size, µs (`SigningKey.signature(for:)`).
    public var signMicroseconds: Double
    /// One Ed25519 verification, µs (`VerifyingKey.isValidSignature(_:for:)`).
    public var verifyMicroseconds: Double
    /// The plaintext segment's harness CPU per message (publisher and subscriber clients), µs.
    public var plaintextClientMicroseconds: Double
    /// The plaintext segment's broker CPU per message, µs (0 for an external broker).
    public var brokerMicroseconds: Double
    /// Cores the ceiling assumes busy.
    public var cores: Int
    /// The ceiling, messages per second.
    public var messagesPerSecond: Double
    /// The target fraction of the ceiling for signed modes (0.8).
    public var target: Double

    /// Measures the raw signature costs (`iterations` each) for messages of `messageBytes`; nil when a fresh
    /// signature did not verify.
    static func measureSignatureCosts(
        messageBytes: Int, iterations: Int = 2_000
    ) throws(SealError) -> (sign: Double, verify: Double)? {
        let key = try SigningKey.generate()
        let message = [UInt8](repeating: 0x5a, count: messageBytes)
        var signature: [UInt8] = []
        let signStart = BenchClock.now()
        for _ in 0..<iterations { signature = try key.signature(for: message) }
        let signed = BenchClock.now()
        var valid = 0
        for _ in 0..<iterations where key.verifyingKey.isValidSignature(signature, for: message) { valid += 1 }
        let verified = BenchClock.now()
        guard valid == iterations else { return nil }
        return (
            Double(signed - signStart) / 1e3 / Double(iterations), Double(verified - signed) / 1e3 / Double(iterations)
        )
    }

    /// The ceiling from the measured costs and the plaintext segment of the same run.
    init(sign: Double, verify: Double, plaintext: BenchModeResult, cores: Int) {
        signMicroseconds = sign
        verifyMicroseconds = verify
        plaintextClientMicroseconds = plaintext.cpuMicrosecondsPerMessage
        brokerMicroseconds = plaintext.brokerCPUMicrosecondsPerMessage ?? 0
        self.cores = cores
        let perMessage = sign + verify + plaintextClientMicroseconds + brokerMicroseconds
        messagesPerSecond = perMessage > 0 ? Double(cores) * 1e6 / perMessage : 0
        target = 0.8
    }
}

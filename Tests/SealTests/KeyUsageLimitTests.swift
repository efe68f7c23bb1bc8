import Testing

@testable import Seal

/// AES-256-GCM keys draw a random 96-bit IV per message, so NIST SP 800-38D allows 2^32 messages per key: the limit
/// is enforced, not only documented. (A small limit stands in for 2^32 here; the count and the refusal are the same
/// code path.)
@Suite("key usage limits")
struct KeyUsageLimitTests {
    @Test func anAESKeyRefusesToSealPastItsLimit() throws {
        let key = try SealKey(id: 7, suite: .aes256gcm, secret: SecureBytes(randomCount: 32), aesMessageLimit: 3)
        let sealer = try Sealer(key: key)
        let opener = Opener(keys: KeySet(keys: [key]))
        #expect(key.remainingMessages == 3)
        var sealed: [[UInt8]] = []
        for index in 0..<3 {
            sealed.append(try sealer.seal(Array("m\(index)".utf8), topic: "t"))
        }
        #expect(key.remainingMessages == 0)
        // The fourth and every later seal is refused with the typed error, whichever sealer uses the key.
        for _ in 0..<2 {
            #expect(throws: SealError(.keyExhausted, .keyUsageLimit)) { try sealer.seal([1, 2, 3], topic: "t") }
        }
        let signed = try Sealer(key: key, signingKey: try SigningKey.generate())
        #expect(throws: SealError(.keyExhausted, .keyUsageLimit)) { try signed.seal([1], topic: "t") }
        var buffer = [UInt8](repeating: 0, count: 256)
        let refused = buffer.withUnsafeMutableBytes { output in
            [UInt8]([9]).withUnsafeBytes { payload in
                Result { () throws(SealError) in try sealer.seal(payload, topic: "t", into: output) }
            }
        }
        #expect(throws: SealError(.keyExhausted, .keyUsageLimit)) { try refused.get() }
        #expect(key.remainingMessages == 0)
        // Opening is not limited: what was sealed before still opens.
        for (index, envelope) in sealed.enumerated() {
            #expect(try opener.open(envelope, topic: "t").payload == Array("m\(index)".utf8))
        }
    }

    @Test func theDefaultAESLimitIsTwoToThe32AndOtherSuitesHaveNone() throws {
        #expect(try SealKey.generate(suite: .aes256gcm).remainingMessages == 1 << 32)
        #expect(try SealKey.generate(suite: .xchacha20poly1305).remainingMessages == nil)
        #expect(try SealKey.generate(suite: .hmacSHA256).remainingMessages == nil)
    }
}

import CSodium
import Testing

@testable import Seal

/// Reads envelopes with libsodium alone, following Specs/envelope.md, for every suite and mode.
@Suite("Spec: an independent libsodium reader")
struct SpecConformanceTests {
    let topic = "spec/ü/topic"
    let context: [UInt8] = [1, 2, 3, 4, 5]
    let keyBytes = (0..<32).map { UInt8(255 - $0) }

    @Test("AES-256-GCM: iv at offset 17, AAD = header || binding")
    func aes() throws {
        let key = try SealKey(id: 9, suite: .aes256gcm, bytes: keyBytes)
        let envelope = try Sealer(key: key).seal(Array("aes".utf8), topic: topic, context: context)
        let aad = Array(envelope[0..<17]) + specBinding(topic: topic, context: context)
        let result = independentAESGCMDecrypt(
            ciphertext: Array(envelope[29...]), aad: aad, iv: Array(envelope[17..<29]), key: keyBytes)
        switch result {
        case .some(.some(let plain)): #expect(plain == Array("aes".utf8))
        case .some(.none): break  // no AES-NI: the Wycheproof test covers AES-GCM through OpenSSL
        case .none: Issue.record("libsodium could not open the AES-GCM envelope")
        }
    }

    @Test("HMAC-SHA256: tag = HMAC(key, header || binding || payload)")
    func mac() throws {
        let key = try SealKey(id: 9, suite: .hmacSHA256, bytes: keyBytes)
        let payload = Array("clear text".utf8)
        let envelope = try Sealer(key: key).seal(payload, topic: topic, context: context)
        #expect(envelope[0] == 0x13)
        #expect(Array(envelope[17..<(17 + payload.count)]) == payload)
        let input = Array(envelope[0..<17]) + specBinding(topic: topic, context: context) + payload
        #expect(Array(envelope.suffix(32)) == independentHMACSHA256(key: keyBytes, message: input))
    }

    @Test("encrypt+sign: signature over domain || binding || everything before the signature")
    func encryptThenSign() throws {
        let key = try SealKey(id: 9, suite: .xchacha20poly1305, bytes: keyBytes)
        let signing = try SigningKey.generate(id: 0xFEED)
        let envelope = try Sealer(key: key, signingKey: signing).seal([7, 7, 7], topic: topic, context: context)
        #expect(envelope[0] == 0x12)
        #expect(Array(envelope[5..<9]) == [0, 0, 0xFE, 0xED])
        let body = Array(envelope.dropLast(64))
        let input = Array("mqtt-seal/v1 sig".utf8) + [0] + specBinding(topic: topic, context: context) + body
        let publicKey = signing.verifyingKey.rawRepresentation
        let signature = Array(envelope.suffix(64))
        #expect(crypto_sign_verify_detached(signature, input, UInt64(input.count), publicKey) == 0)
        // The AEAD part is the mode-1 layout (with mode 2 in the header, hence in the AAD).
        var plain = [UInt8](repeating: 0, count: 3)
        let aad = Array(envelope[0..<17]) + specBinding(topic: topic, context: context)
        let ok = plain.withUnsafeMutableBytes { out in
            Array(body[25...]).withUnsafeBytes { c in
                aad.withUnsafeBytes { a in
                    Array(envelope[1..<25]).withUnsafeBytes { n in
                        keyBytes.withUnsafeBytes { k in
                            independentXChaChaDecrypt(out: out, ciphertext: c, aad: a, nonce: n, key: k)
                        }
                    }
                }
            }
        }
        #expect(ok && plain == [7, 7, 7])
    }
}

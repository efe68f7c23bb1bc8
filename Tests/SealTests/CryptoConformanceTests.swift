import Foundation
import Testing

@testable import Seal

/// Wycheproof and CCTV conformance of the internal primitives (the very types the envelope uses).
@Suite("Crypto conformance")
struct CryptoConformanceTests {
    @Test("XChaCha20-Poly1305: every 192-bit-nonce Wycheproof vector")
    func xchacha() throws {
        guard let groups = Vectors.wycheproofGroups("xchacha20_poly1305_test.json") else { return }
        var tally = VectorTally()
        for group in groups where group["ivSize"] as? Int == 192 {
            for test in group["tests"] as? [[String: Any]] ?? [] {
                let id = test["tcId"] as? Int ?? -1
                guard let key = hex(test["key"] as? String), let iv = hex(test["iv"] as? String),
                    let aad = hex(test["aad"] as? String), let msg = hex(test["msg"] as? String),
                    let ct = hex(test["ct"] as? String), let tag = hex(test["tag"] as? String)
                else { continue }
                let result = test["result"] as? String
                let cipher: XChaCha20Poly1305
                do {
                    cipher = try XChaCha20Poly1305(key: key.withUnsafeBytes { SecureBytes(copying: $0) })
                } catch {
                    #expect(result == "invalid", "tcId \(id): key rejected: \(error)")
                    continue
                }
                let combined = ct + tag
                var plain = [UInt8](repeating: 0, count: max(combined.count - 16, 0) + 1)
                let opened = plain.withUnsafeMutableBufferPointer { out in
                    combined.withUnsafeBytes { input in
                        aad.withUnsafeBytes { aadBytes in
                            iv.withUnsafeBufferPointer { nonce in
                                iv.count == 24
                                    && cipher.open(
                                        into: out.baseAddress!, ciphertextAndTag: input, aad: aadBytes,
                                        nonce: nonce.baseAddress!)
                            }
                        }
                    }
                }
                switch result {
                case "valid":
                    tally.valid += 1
                    #expect(opened, "tcId \(id) must open")
                    #expect(Array(plain.prefix(msg.count)) == msg, "tcId \(id) plaintext")
                    // Encryption reproduces the vector.
                    var sealed = [UInt8](repeating: 0, count: msg.count + 16)
                    sealed.withUnsafeMutableBufferPointer { out in
                        msg.withUnsafeBytes { m in
                            aad.withUnsafeBytes { a in
                                iv.withUnsafeBufferPointer { n in
                                    #expect(throws: Never.self) {
                                        try cipher.seal(
                                            into: out.baseAddress!, message: m, aad: a, nonce: n.baseAddress!)
                                    }
                                }
                            }
                        }
                    }
                    #expect(sealed == combined, "tcId \(id) ciphertext")
                case "invalid":
                    tally.invalid += 1
                    #expect(!opened, "tcId \(id) must be rejected")
                default:
                    tally.acceptable += 1
                }
            }
        }
        #expect(tally.valid > 200 && tally.invalid > 50, "checked \(tally)")
    }

    @Test("AES-256-GCM: every 96-bit-IV, 256-bit-key Wycheproof vector")
    func aesGCM() throws {
        guard let groups = Vectors.wycheproofGroups("aes_gcm_test.json") else { return }
        var tally = VectorTally()
        for group in groups where group["ivSize"] as? Int == 96 && group["keySize"] as? Int == 256 {
            for test in group["tests"] as? [[String: Any]] ?? [] {
                let id = test["tcId"] as? Int ?? -1
                guard let key = hex(test["key"] as? String), let iv = hex(test["iv"] as? String),
                    let aad = hex(test["aad"] as? String), let msg = hex(test["msg"] as? String),
                    let ct = hex(test["ct"] as? String), let tag = hex(test["tag"] as? String)
                else { continue }
                let result = test["result"] as? String
                let cipher = try AES256GCM(key: key.withUnsafeBytes { SecureBytes(copying: $0) })
                let combined = ct + tag
                // Open twice with the same key object: the reused context must give the same answer.
                for round in 0..<2 {
                    var plain = [UInt8](repeating: 0, count: max(combined.count - 16, 0) + 1)
                    let opened = plain.withUnsafeMutableBufferPointer { out in
                        combined.withUnsafeBytes { input in
                            aad.withUnsafeBytes { a in
                                iv.withUnsafeBufferPointer { n in
                                    cipher.open(
                                        into: out.baseAddress!, ciphertextAndTag: input, aad: a, iv: n.baseAddress!)
                                }
                            }
                        }
                    }
                    switch result {
                    case "valid":
                        #expect(opened, "tcId \(id) round \(round) must open")
                        #expect(Array(plain.prefix(msg.count)) == msg, "tcId \(id) plaintext")
                    case "invalid":
                        #expect(!opened, "tcId \(id) round \(round) must be rejected")
                    default: break
                    }
                }
                if result == "valid" {
                    tally.valid += 1
                    var sealed = [UInt8](repeating: 0, count: msg.count + 16)
                    sealed.withUnsafeMutableBufferPointer { out in
                        msg.withUnsafeBytes { m in
                            aad.withUnsafeBytes { a in
                                iv.withUnsafeBufferPointer { n in
                                    #expect(throws: Never.self) {
                                        try cipher.seal(into: out.baseAddress!, message: m, aad: a, iv: n.baseAddress!)
                                    }
                                }
                            }
                        }
                    }
                    #expect(sealed == combined, "tcId \(id) ciphertext")
                } else if result == "invalid" {
                    tally.invalid += 1
                } else {
                    tally.acceptable += 1
                }
            }
        }
        #expect(tally.valid > 30 && tally.invalid > 10, "checked \(tally)")
    }

    @Test("HMAC-SHA256: every Wycheproof vector with the full 256-bit tag")
    func hmac() throws {
        guard let groups = Vectors.wycheproofGroups("hmac_sha256_test.json") else { return }
        var tally = VectorTally()
        for group in groups where group["tagSize"] as? Int == 256 {
            for test in group["tests"] as? [[String: Any]] ?? [] {
                let id = test["tcId"] as? Int ?? -1
                guard let key = hex(test["key"] as? String), let msg = hex(test["msg"] as? String),
                    let tag = hex(test["tag"] as? String)
                else { continue }
                let mac = try HMACSHA256(key: key.withUnsafeBytes { SecureBytes(copying: $0) })
                // Twice: the reused keyed context must reset correctly between messages.
                for round in 0..<2 {
                    let accepted = tag.withUnsafeBytes { t in
                        msg.withUnsafeBytes { m in
                            mac.verify(tag: t, first: m, second: UnsafeRawBufferPointer(start: nil, count: 0))
                        }
                    }
                    // Split the message in two parts: same tag.
                    let split = msg.count / 2
                    let acceptedSplit = tag.withUnsafeBytes { t in
                        Array(msg[..<split]).withUnsafeBytes { a in
                            Array(msg[split...]).withUnsafeBytes { b in mac.verify(tag: t, first: a, second: b) }
                        }
                    }
                    switch test["result"] as? String {
                    case "valid":
                        #expect(accepted && acceptedSplit, "tcId \(id) round \(round) must verify")
                    case "invalid":
                        #expect(!accepted && !acceptedSplit, "tcId \(id) round \(round) must be rejected")
                    default: break
                    }
                }
                switch test["result"] as? String {
                case "valid": tally.valid += 1
                case "invalid": tally.invalid += 1
                default: tally.acceptable += 1
                }
            }
        }
        #expect(tally.valid > 30 && tally.invalid > 30, "checked \(tally)")
    }

    @Test("Ed25519: every Wycheproof vector (import, then verify)")
    func ed25519() throws {
        guard let groups = Vectors.wycheproofGroups("ed25519_test.json") else { return }
        var tally = VectorTally()
        for group in groups {
            let publicKeyHex = (group["publicKey"] as? [String: Any])?["pk"] as? String
            guard let publicKey = hex(publicKeyHex) else { continue }
            let imported = try? VerifyingKey(id: 1, rawRepresentation: publicKey)
            for test in group["tests"] as? [[String: Any]] ?? [] {
                let id = test["tcId"] as? Int ?? -1
                guard let msg = hex(test["msg"] as? String), let sig = hex(test["sig"] as? String) else { continue }
                let verified =
                    imported.map { key in
                        sig.withUnsafeBytes { s in msg.withUnsafeBytes { m in key.isValidSignature(s, for: m) } }
                    } ?? false
                switch test["result"] as? String {
                case "valid":
                    tally.valid += 1
                    #expect(imported != nil, "tcId \(id): public key must import")
                    #expect(verified, "tcId \(id) must verify")
                case "invalid":
                    tally.invalid += 1
                    #expect(!verified, "tcId \(id) must be rejected")
                default:
                    tally.acceptable += 1
                }
            }
        }
        #expect(tally.valid > 50 && tally.invalid > 50, "checked \(tally)")
    }

    @Test("Ed25519 signing reproduces RFC 8032 test 1")
    func ed25519Sign() throws {
        // RFC 8032 test 1: secret seed, public key, empty message, signature.
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!
        let expectedPublic = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")!
        let expectedSignature = hex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )!
        let key = try SigningKey(id: 7, seed: seed)
        #expect(key.verifyingKey.rawRepresentation == expectedPublic)
        var signature = [UInt8](repeating: 0, count: 64)
        try signature.withUnsafeMutableBufferPointer { out throws(SealError) in
            try Ed25519.sign(
                into: out.baseAddress!, message: UnsafeRawBufferPointer(start: nil, count: 0), secretKey: key.secretKey)
        }
        #expect(signature == expectedSignature)
    }

    @Test("Ed25519 import rejects every CCTV public key that is not a valid point")
    func cctv() throws {
        guard let vectors = Vectors.load("cctv-ed25519/ed25519vectors.json") as? [[String: Any]] else { return }
        var rejected = 0
        var accepted = 0
        for vector in vectors {
            let number = vector["number"] as? Int ?? -1
            guard let key = hex(vector["key"] as? String) else { continue }
            let flags = Set(vector["flags"] as? [String] ?? [])
            // Independent oracle: the vector's own flags. A key of low order, with a low-order
            // component (mixed order) or a non-canonical encoding is not a valid point.
            let badKey = !flags.isDisjoint(with: ["low_order_A", "low_order_component_A", "non_canonical_A"])
            let importedKey = try? VerifyingKey(id: 1, rawRepresentation: key)
            if badKey {
                rejected += 1
                #expect(importedKey == nil, "CCTV \(number) (\(flags.sorted())) must be rejected on import")
            } else if let importedKey {
                accepted += 1
                // Whatever libsodium decides for the signature, a signed envelope with such a key can
                // only be accepted when verification passes; check that verification is deterministic.
                guard let msg = vector["msg"] as? String, let sig = hex(vector["sig"] as? String) else { continue }
                let once = sig.withUnsafeBytes { s in
                    Array(msg.utf8).withUnsafeBytes { importedKey.isValidSignature(s, for: $0) }
                }
                let twice = sig.withUnsafeBytes { s in
                    Array(msg.utf8).withUnsafeBytes { importedKey.isValidSignature(s, for: $0) }
                }
                #expect(once == twice)
            }
        }
        #expect(rejected > 500, "rejected \(rejected) bad keys")
        #expect(accepted > 0, "some CCTV keys are valid points")
    }
}

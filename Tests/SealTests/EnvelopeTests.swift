import Testing

@testable import Seal

@Suite("Envelope round trips and layout")
struct EnvelopeRoundTripTests {
    @Test("every suite x mode round-trips payloads of many sizes", arguments: Configuration.all)
    func roundTrip(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        for size in [0, 1, 15, 16, 17, 64, 1000, 4096] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let context: [UInt8]? = size % 2 == 0 ? nil : Array("ctx-\(size)".utf8)
            let envelope = try harness.sealer.seal(payload, topic: "plant/7/temp", context: context)
            #expect(envelope.count == payload.count + harness.sealer.overhead)
            #expect(envelope[0] == 0x10 | configuration.mode.rawValue)
            let opened = try harness.opener.open(envelope, topic: "plant/7/temp", context: context)
            #expect(opened.payload == payload)
            #expect(opened.mode == configuration.mode)
            #expect(opened.keyID == harness.sealer.keyID)
            #expect(opened.senderID == harness.sealer.senderID)
            #expect(opened.isSigned == configuration.mode.isSigned)
            #expect(opened.signer == harness.signingKey?.id)
            #expect(opened.timestampMilliseconds == harness.clock.now)
            #expect(!opened.sealedForRetain)
            if configuration.mode == .encrypt || configuration.mode == .encryptAndSign, size >= 16 {
                // The payload does not appear in clear.
                #expect(!envelope.containsSubsequence(payload))
            }
            if configuration.mode == .mac || configuration.mode == .sign {
                #expect(Array(envelope[17..<(17 + size)]) == payload)
            }
        }
    }

    @Test("sealing into a caller's buffer writes exactly the envelope and opens", arguments: Configuration.all)
    func sealInto(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        for size in [0, 1, 64, 1000] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
            let context: [UInt8]? = size == 1 ? [9, 9] : nil
            let total = harness.sealer.overhead + size
            var output = [UInt8](repeating: 0xEE, count: total + 8)
            let written = try payload.withUnsafeBytes { bytes in
                try output.withUnsafeMutableBytes { out in
                    try withOptionalBytes(context) { contextBytes throws(SealError) in
                        try harness.sealer.seal(bytes, topic: "plant/7/temp", context: contextBytes, into: out)
                    }
                }
            }
            #expect(written == total)
            // Bytes past the envelope are untouched.
            #expect(output[total...].allSatisfy { $0 == 0xEE })
            let opened = try harness.opener.open(Array(output[..<total]), topic: "plant/7/temp", context: context)
            #expect(opened.payload == payload)
            #expect(opened.mode == configuration.mode)
        }
    }

    @Test("sealing into a buffer one byte short is refused with invalidArgument and writes nothing")
    func sealIntoShortBuffer() throws {
        for configuration in Configuration.all {
            let harness = try Harness(configuration)
            let payload: [UInt8] = [1, 2, 3]
            var output = [UInt8](repeating: 0xEE, count: harness.sealer.overhead + payload.count - 1)
            expectMisuse(.invalidArgument) {
                _ = try payload.withUnsafeBytes { bytes in
                    try output.withUnsafeMutableBytes { try harness.sealer.seal(bytes, topic: "t", into: $0) }
                }
            }
            #expect(output.allSatisfy { $0 == 0xEE }, "\(configuration)")
            expectMisuse(.invalidArgument) {
                _ = try payload.withUnsafeBytes { bytes in
                    try harness.sealer.seal(
                        bytes, topic: "t", into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
                }
            }
        }
    }

    @Test("opening into a caller's buffer writes exactly the payload", arguments: Configuration.all)
    func openInto(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        for size in [0, 1, 64, 1000] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 3) }
            let context: [UInt8]? = size == 1 ? [4, 2] : nil
            let envelope = try harness.sealer.seal(payload, topic: "plant/7/temp", context: context)
            var output = [UInt8](repeating: 0xEE, count: size + 8)
            let opened = try envelope.withUnsafeBytes { bytes in
                try output.withUnsafeMutableBytes { out in
                    try withOptionalBytes(context) { contextBytes throws(SealError) in
                        try harness.opener.open(bytes, topic: "plant/7/temp", context: contextBytes, into: out)
                    }
                }
            }
            #expect(opened.payloadCount == size)
            #expect(Array(output[..<size]) == payload)
            #expect(output[size...].allSatisfy { $0 == 0xEE })
            #expect(opened.mode == configuration.mode && opened.keyID == harness.sealer.keyID)
            #expect(opened.signer == harness.signingKey?.id)
        }
    }

    @Test("opening into a buffer too small is refused with invalidArgument and writes nothing")
    func openIntoShortBuffer() throws {
        for configuration in Configuration.all {
            let harness = try Harness(configuration)
            let envelope = try harness.sealer.seal([1, 2, 3], topic: "t")
            var output = [UInt8](repeating: 0xEE, count: 2)
            expectMisuse(.invalidArgument) {
                _ = try envelope.withUnsafeBytes { bytes in
                    try output.withUnsafeMutableBytes { try harness.opener.open(bytes, topic: "t", into: $0) }
                }
            }
            #expect(output.allSatisfy { $0 == 0xEE }, "\(configuration)")
        }
    }

    @Test("a rejection after the payload was written wipes it: replay, and a forged AES-GCM tag")
    func openIntoWipesOnRejection() throws {
        for configuration in Configuration.all {
            let harness = try Harness(configuration)
            let payload = [UInt8](repeating: 0x42, count: 48)
            let envelope = try harness.sealer.seal(payload, topic: "t")
            var output = [UInt8](repeating: 0xEE, count: envelope.count)
            func openIntoOutput(_ bytes: [UInt8]) throws(SealError) {
                let result = bytes.withUnsafeBytes { input in
                    output.withUnsafeMutableBytes { out in
                        Result { () throws(SealError) in try harness.opener.open(input, topic: "t", into: out) }
                    }
                }
                _ = try result.get()
            }
            try openIntoOutput(envelope)
            #expect(Array(output[..<48]) == payload)
            // The same envelope again: it decrypts (or verifies) into the buffer, then the replay window refuses it.
            #expect { try openIntoOutput(envelope) } throws: { ($0 as? SealError)?.reason == .replayed }
            #expect(output[..<48].allSatisfy { $0 == 0 }, "\(configuration): replayed plaintext left behind")
            // A flipped last byte: tag, MAC or signature fails; OpenSSL's AES-GCM writes before it checks the tag.
            output = [UInt8](repeating: 0xEE, count: envelope.count)
            var forged = try harness.sealer.seal(payload, topic: "t")
            forged[forged.count - 1] ^= 1
            #expect { try openIntoOutput(forged) } throws: { ($0 as? SealError)?.code == .rejected }
            #expect(output.allSatisfy { $0 == 0 || $0 == 0xEE }, "\(configuration): forged plaintext left behind")
        }
    }

    @Test("overheads: default suite 41 bytes, a signature adds 64")
    func overheads() throws {
        let expected: [String: Int] = [
            "xchacha20poly1305/encrypt": 41, "xchacha20poly1305/encrypt+sign": 105,
            "aes256gcm/encrypt": 45, "aes256gcm/encrypt+sign": 109,
            "hmac-sha256/mac": 49, "ed25519/sign": 81,
        ]
        for configuration in Configuration.all {
            let harness = try Harness(configuration)
            #expect(harness.sealer.overhead == expected[configuration.description], "\(configuration)")
            let envelope = try harness.sealer.seal([1, 2, 3], topic: "t")
            #expect(envelope.count == 3 + expected[configuration.description]!)
        }
    }

    @Test("header layout: version, mode, retain flag, kid, sid, seq big-endian")
    func headerLayout() throws {
        let clock = TestClock(0x0000_0123_4567_89AB)
        let key = try SealKey(id: 0x0102_0304, suite: .xchacha20poly1305, bytes: [UInt8](repeating: 9, count: 32))
        let sealer = try Sealer(key: key, senderID: 0x0A0B_0C0D, clock: clock.closure)
        let first = try sealer.seal([0xEE], topic: "a")
        let second = try sealer.seal([0xEE], topic: "a", retain: true)
        #expect(first[0] == 0x11)
        #expect(second[0] == 0x19)
        #expect(Array(first[1..<5]) == [1, 2, 3, 4])
        #expect(Array(first[5..<9]) == [0x0A, 0x0B, 0x0C, 0x0D])
        let seq = UInt64(0x0000_0123_4567_89AB) << 16
        #expect(Array(first[9..<17]) == (0..<8).map { UInt8(truncatingIfNeeded: seq >> (56 - 8 * $0)) })
        // Same millisecond: the counter increments.
        #expect(Array(second[9..<17]) == (0..<8).map { UInt8(truncatingIfNeeded: (seq + 1) >> (56 - 8 * $0)) })
    }

    @Test("an outside reader with libsodium alone can open the default suite (nonce and AAD per the spec)")
    func independentReader() throws {
        let keyBytes = (0..<32).map { UInt8($0) }
        let key = try SealKey(id: 77, suite: .xchacha20poly1305, bytes: keyBytes)
        let sealer = try Sealer(key: key, senderID: 5)
        let topic = "spec/topic"
        let context: [UInt8] = [0xC0, 0xFF, 0xEE]
        let envelope = try sealer.seal(Array("hello".utf8), topic: topic, context: context)
        // Spec: nonce = envelope[1..<17] || envelope[17..<25]; AAD = header || u16 len || topic || u32 len || ctx.
        let nonce = Array(envelope[1..<25])
        var aad = Array(envelope[0..<17])
        aad += [0, UInt8(topic.utf8.count)] + Array(topic.utf8)
        aad += [0, 0, 0, UInt8(context.count)] + context
        let ciphertext = Array(envelope[25...])
        var plain = [UInt8](repeating: 0, count: ciphertext.count - 16)
        let ok = plain.withUnsafeMutableBytes { out in
            ciphertext.withUnsafeBytes { c in
                aad.withUnsafeBytes { a in
                    nonce.withUnsafeBytes { n in
                        keyBytes.withUnsafeBytes { k in
                            independentXChaChaDecrypt(out: out, ciphertext: c, aad: a, nonce: n, key: k)
                        }
                    }
                }
            }
        }
        #expect(ok)
        #expect(plain == Array("hello".utf8))
    }

    @Test("an outside verifier with libsodium alone can check a sign-mode signature")
    func independentSignatureCheck() throws {
        let signing = try SigningKey.generate(id: 42)
        let sealer = try Sealer(signingKey: signing)
        let topic = "s"
        let envelope = try sealer.seal([1, 2, 3], topic: topic)
        let body = Array(envelope[..<(envelope.count - 64)])
        let signature = Array(envelope[(envelope.count - 64)...])
        var input = Array("mqtt-seal/v1 sig".utf8) + [0]
        input += [0, 1] + Array(topic.utf8) + [0, 0, 0, 0] + body
        let ok = signature.withUnsafeBytes { s in
            input.withUnsafeBytes { m in
                signing.verifyingKey.rawRepresentation.withUnsafeBytes { pk in
                    Ed25519.verify(signature: s, message: m, publicKey: pk)
                }
            }
        }
        #expect(ok)
        #expect(Array(envelope[1..<5]) == [0, 0, 0, 42])
        #expect(Array(envelope[5..<9]) == [0, 0, 0, 42])
    }

    @Test("nonces and sequence numbers never repeat under one key across many seals")
    func uniqueness() throws {
        let key = try SealKey.generate(suite: .xchacha20poly1305)
        let sealer = try Sealer(key: key)
        var nonces = Set<[UInt8]>()
        var seqs = Set<[UInt8]>()
        for _ in 0..<5000 {
            let envelope = try sealer.seal([], topic: "t")
            nonces.insert(Array(envelope[1..<25]))
            seqs.insert(Array(envelope[9..<17]))
        }
        #expect(nonces.count == 5000)
        #expect(seqs.count == 5000)
        // A second sealer with the same key and sender id (a restart) still draws fresh random bytes.
        let twin = try Sealer(key: key, senderID: sealer.senderID)
        let randomTails = Set((0..<2000).map { _ in Array(try! twin.seal([], topic: "t")[17..<25]) })
        #expect(randomTails.count == 2000)
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        for start in 0...(count - needle.count) where self[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}

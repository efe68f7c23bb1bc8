import Testing

@testable import Seal

@Suite("Every rejection path throws the one typed error")
struct RejectionTests {
    let topic = "site/1/sensor"

    @Test("wrong topic and wrong context fail authentication", arguments: Configuration.all)
    func wrongTopicOrContext(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        let envelope = try harness.sealer.seal([1, 2, 3], topic: topic, context: [9])
        let expected: SealError.Reason =
            configuration.mode.isSigned && configuration.mode == .sign ? .badSignature : .authenticationFailed
        expectRejected(expected) { _ = try harness.opener.open(envelope, topic: "site/1/other", context: [9]) }
        expectRejected(expected) { _ = try harness.opener.open(envelope, topic: topic, context: [8]) }
        expectRejected(expected) { _ = try harness.opener.open(envelope, topic: topic, context: nil) }
        expectRejected(expected) { _ = try harness.opener.open(envelope, topic: topic + "\0", context: [9]) }
        // The genuine one still opens (the failures did not consume it).
        #expect(try harness.opener.open(envelope, topic: topic, context: [9]).payload == [1, 2, 3])
    }

    @Test("absent context and empty context are the same binding")
    func emptyContext() throws {
        let harness = try Harness(Configuration(suite: .xchacha20poly1305, mode: .encrypt))
        let envelope = try harness.sealer.seal([1], topic: topic)
        #expect(try harness.opener.open(envelope, topic: topic, context: []).payload == [1])
    }

    @Test("unknown key id", arguments: Configuration.all)
    func unknownKey(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        let envelope = try harness.sealer.seal([1], topic: topic)
        let empty = Opener(keys: KeySet(), replayGuard: ReplayGuard(clock: harness.clock.closure))
        expectRejected(configuration.mode == .sign ? .untrustedSigner : .unknownKey) {
            _ = try empty.open(envelope, topic: topic)
        }
    }

    @Test("a key is only used in the modes its suite allows (no downgrade)")
    func modeNotAllowed() throws {
        let clock = TestClock()
        let aead = try SealKey.generate(id: 10, suite: .xchacha20poly1305)
        let mac = try SealKey.generate(id: 11, suite: .hmacSHA256)
        let opener = Opener(keys: KeySet(keys: [aead, mac]), replayGuard: ReplayGuard(clock: clock.closure))
        // An AEAD envelope relabelled as MAC, and a MAC envelope relabelled as encrypt.
        var relabelled = try Sealer(key: aead, clock: clock.closure).seal([1, 2], topic: topic)
        relabelled[0] = 0x13
        expectRejected(.modeNotAllowed) { _ = try opener.open(relabelled, topic: topic) }
        var macEnvelope = try Sealer(key: mac, clock: clock.closure).seal(Array(repeating: 7, count: 40), topic: topic)
        macEnvelope[0] = 0x11
        expectRejected(.modeNotAllowed) { _ = try opener.open(macEnvelope, topic: topic) }
        // Signed modes with an HMAC key id are not allowed either.
        macEnvelope[0] = 0x12
        expectRejected(.modeNotAllowed) { _ = try opener.open(macEnvelope, topic: topic) }
    }

    @Test("signed modes: untrusted signer, bad signature, stripped signature, kid != sid in sign mode")
    func signatures() throws {
        for configuration in Configuration.all where configuration.mode.isSigned {
            let harness = try Harness(configuration)
            let envelope = try harness.sealer.seal([4, 5, 6], topic: topic)
            // Opener that knows the symmetric key but trusts no signer.
            let untrusting = Opener(
                keys: KeySet(keys: harness.key.map { [$0] } ?? []),
                replayGuard: ReplayGuard(clock: harness.clock.closure))
            expectRejected(.untrustedSigner, "\(configuration)") { _ = try untrusting.open(envelope, topic: topic) }
            // Another signer's key under the same id: the signature does not verify.
            let impostor = try SigningKey.generate(id: harness.signingKey!.id)
            let fooled = Opener(
                keys: KeySet(keys: harness.key.map { [$0] } ?? [], signers: [impostor.verifyingKey]),
                replayGuard: ReplayGuard(clock: harness.clock.closure))
            expectRejected(.badSignature, "\(configuration)") { _ = try fooled.open(envelope, topic: topic) }
            var badSignature = envelope
            badSignature[badSignature.count - 1] ^= 0x01
            expectRejected(.badSignature, "\(configuration)") {
                _ = try harness.opener.open(badSignature, topic: topic)
            }
            // Stripping the signature and relabelling as the unsigned mode breaks the AAD (header).
            if configuration.mode == .encryptAndSign {
                var stripped = Array(envelope.dropLast(64))
                stripped[0] = 0x11
                expectRejected(.authenticationFailed) { _ = try harness.opener.open(stripped, topic: topic) }
            }
            if configuration.mode == .sign {
                var other = envelope
                other[4] ^= 0x01  // kid no longer equals sid
                expectRejected(.malformed) { _ = try harness.opener.open(other, topic: topic) }
            }
        }
    }

    @Test("an encrypt+sign envelope re-signed by another trusted group member keeps the true sid")
    func signerBinding() throws {
        // Member B takes A's envelope and replaces the signature with its own: sid still names A,
        // so B's signature does not verify under A's key.
        let clock = TestClock()
        let group = try SealKey.generate(id: 1, suite: .xchacha20poly1305)
        let alice = try SigningKey.generate(id: 100)
        let bob = try SigningKey.generate(id: 200)
        let opener = Opener(
            keys: KeySet(keys: [group], signers: [alice.verifyingKey, bob.verifyingKey]),
            replayGuard: ReplayGuard(clock: clock.closure))
        let fromAlice = try Sealer(key: group, signingKey: alice, clock: clock.closure).seal([1], topic: topic)
        let fromBob = try Sealer(key: group, signingKey: bob, clock: clock.closure).seal([1], topic: topic)
        let forged = Array(fromAlice.dropLast(64)) + Array(fromBob.suffix(64))
        expectRejected(.badSignature) { _ = try opener.open(forged, topic: topic) }
        #expect(try opener.open(fromAlice, topic: topic).signer == 100)
        #expect(try opener.open(fromBob, topic: topic).signer == 200)
    }

    @Test("malformed: empty, short header, bad version, bad modes")
    func malformed() throws {
        let harness = try Harness(Configuration(suite: .xchacha20poly1305, mode: .encrypt))
        let good = try harness.sealer.seal([1, 2, 3], topic: topic)
        expectRejected(.malformed) { _ = try harness.opener.open([], topic: topic) }
        expectRejected(.malformed) { _ = try harness.opener.open(Array(good.prefix(16)), topic: topic) }
        for first: UInt8 in [0x01, 0x21, 0xF1, 0x00, 0x10, 0x15, 0x16, 0x17, 0x18, 0x1D, 0x1F] {
            var bad = good
            bad[0] = first
            expectRejected(.malformed, "first byte \(first)") { _ = try harness.opener.open(bad, topic: topic) }
        }
        // Header only, header + nonce, header + nonce + 15 bytes: shorter than the fixed part.
        for length in [17, 25, 40] {
            expectRejected(.malformed, "length \(length)") {
                _ = try harness.opener.open(Array(good.prefix(length)), topic: topic)
            }
        }
    }

    @Test("truncation at every offset and trailing bytes are rejected", arguments: Configuration.all)
    func truncationAndTrailing(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        let envelope = try harness.sealer.seal(Array(repeating: 0x5A, count: 24), topic: topic, context: [1])
        for length in 0..<envelope.count {
            expectRejected(nil, "\(configuration) truncated to \(length)") {
                _ = try harness.opener.open(Array(envelope.prefix(length)), topic: topic, context: [1])
            }
        }
        for extra in [[UInt8(0)], [0xFF], [UInt8](repeating: 0, count: 64)] {
            expectRejected(nil, "\(configuration) + \(extra.count) trailing") {
                _ = try harness.opener.open(envelope + extra, topic: topic, context: [1])
            }
        }
        #expect(try harness.opener.open(envelope, topic: topic, context: [1]).payload.count == 24)
    }

    @Test("oversized inputs: envelope above the MQTT maximum, topic above 65535 bytes")
    func oversized() throws {
        let harness = try Harness(Configuration(suite: .xchacha20poly1305, mode: .encrypt))
        // Untouched virtual memory: the length check must come before any read.
        let huge = UnsafeMutableRawBufferPointer.allocate(byteCount: EnvelopeFormat.maxEnvelopeBytes + 1, alignment: 16)
        defer { huge.deallocate() }
        huge.storeBytes(of: 0x11, as: UInt8.self)
        expectRejected(.malformed) { _ = try harness.opener.open(UnsafeRawBufferPointer(huge), topic: topic) }
        let longTopic = String(repeating: "a", count: 65_536)
        let envelope = try harness.sealer.seal([1], topic: topic)
        expectRejected(.badTopic) { _ = try harness.opener.open(envelope, topic: longTopic) }
        expectMisuse(.invalidArgument) { _ = try harness.sealer.seal([1], topic: longTopic) }
        // The longest valid topic works both ways.
        let maxTopic = String(repeating: "b", count: 65_535)
        let sealed = try harness.sealer.seal([1], topic: maxTopic)
        #expect(try harness.opener.open(sealed, topic: maxTopic).payload == [1])
    }

    @Test("a payload above the limit is a local misuse error")
    func payloadTooLarge() throws {
        let harness = try Harness(Configuration(suite: .xchacha20poly1305, mode: .encrypt))
        let huge = UnsafeMutableRawBufferPointer.allocate(byteCount: Sealer.maxPayloadBytes + 1, alignment: 16)
        defer { huge.deallocate() }
        expectMisuse(.invalidArgument) { _ = try harness.sealer.seal(UnsafeRawBufferPointer(huge), topic: topic) }
    }

    @Test("arbitrary bytes never open and never crash")
    func randomBytes() throws {
        var rng = SplitMix64(state: 0x5EA1)
        for configuration in Configuration.all {
            let harness = try Harness(configuration)
            let valid = try harness.sealer.seal([1, 2, 3, 4], topic: topic)
            for round in 0..<1500 {
                let length = Int(rng.next() % 160)
                var bytes = rng.bytes(length)
                // Half of the inputs carry the genuine header, so they reach the key lookup and crypto.
                if round % 2 == 0 && length >= 17 { bytes.replaceSubrange(0..<17, with: valid[0..<17]) }
                expectRejected(nil, "\(configuration) round \(round)") {
                    _ = try harness.opener.open(bytes, topic: topic)
                }
            }
        }
    }

    @Test("every single-bit flip of a sealed message is rejected", arguments: Configuration.all)
    func bitFlips(_ configuration: Configuration) throws {
        let harness = try Harness(configuration)
        for payloadSize in [0, 33] {
            let envelope = try harness.sealer.seal(
                (0..<payloadSize).map { UInt8($0) }, topic: topic, context: [7, 7])
            for bit in 0..<(envelope.count * 8) {
                var flipped = envelope
                flipped[bit / 8] ^= 1 << (bit % 8)
                expectRejected(nil, "\(configuration) size \(payloadSize) bit \(bit)") {
                    _ = try harness.opener.open(flipped, topic: topic, context: [7, 7])
                }
                // Also as a retained delivery (a different code path for freshness).
                expectRejected(nil, "\(configuration) retained bit \(bit)") {
                    _ = try harness.opener.open(flipped, topic: topic, context: [7, 7], retained: true)
                }
            }
            // The unmodified message still opens: the flips were rejected for what they are.
            #expect(try harness.opener.open(envelope, topic: topic, context: [7, 7]).payload.count == payloadSize)
        }
    }

    @Test("every rejection shares one code; reasons stay distinct for logging")
    func oneCode() throws {
        let reasons: [SealError.Reason] = [
            .malformed, .unknownKey, .modeNotAllowed, .authenticationFailed, .badSignature, .untrustedSigner,
            .replayed, .outsideWindow, .stale, .future, .badTopic,
        ]
        #expect(Set(reasons.map { SealError.rejected($0).code }) == [.rejected])
        #expect(Set(reasons).count == reasons.count)
        #expect(SealError.rejected(.stale) != SealError.rejected(.future))
    }
}

@Suite("Local misuse gets its own codes")
struct MisuseTests {
    @Test("key lengths and suites")
    func keys() throws {
        for suite in [Suite.xchacha20poly1305, .aes256gcm, .hmacSHA256] {
            for length in [0, 16, 31, 33, 64] {
                expectMisuse(.invalidKey) {
                    _ = try SealKey(id: 1, suite: suite, bytes: [UInt8](repeating: 1, count: length))
                }
            }
            #expect(try SealKey(id: 1, suite: suite, bytes: [UInt8](repeating: 1, count: 32)).suite == suite)
        }
        expectMisuse(.invalidKey) { _ = try SealKey(id: 1, suite: .ed25519, bytes: [UInt8](repeating: 1, count: 32)) }
        expectMisuse(.invalidKey) { _ = try SigningKey(id: 1, seed: [UInt8](repeating: 1, count: 31)) }
        expectMisuse(.invalidKey) { _ = try VerifyingKey(id: 1, rawRepresentation: [UInt8](repeating: 1, count: 31)) }
        // The identity point (small order) is not a valid public key.
        expectMisuse(.invalidKey) {
            _ = try VerifyingKey(id: 1, rawRepresentation: [1] + [UInt8](repeating: 0, count: 31))
        }
    }

    @Test("sealer configurations that cannot work")
    func configurations() throws {
        let mac = try SealKey.generate(suite: .hmacSHA256)
        let signing = try SigningKey.generate(id: 9)
        expectMisuse(.invalidConfiguration) { _ = try Sealer(key: mac, signingKey: signing) }
        let aead = try SealKey.generate()
        expectMisuse(.invalidConfiguration) { _ = try Sealer(key: aead, signingKey: signing, senderID: 10) }
        #expect(try Sealer(key: aead, signingKey: signing, senderID: 9).senderID == 9)
    }

    @Test("secrets: constant-time comparison and export")
    func secrets() throws {
        let bytes = (0..<32).map { UInt8($0) }
        let a = try SealKey(id: 1, suite: .aes256gcm, bytes: bytes)
        let b = try SealKey(id: 2, suite: .aes256gcm, bytes: bytes)
        let c = try SealKey(id: 3, suite: .aes256gcm, bytes: bytes.reversed())
        let d = try SealKey(id: 4, suite: .xchacha20poly1305, bytes: bytes)
        #expect(a.hasSameSecret(as: b))
        #expect(!a.hasSameSecret(as: c))
        #expect(!a.hasSameSecret(as: d))
        #expect(a.withUnsafeSecretBytes { Array($0) } == bytes)
        #expect(!a.description.contains("00"))
        let seed = [UInt8](repeating: 3, count: 32)
        let signing = try SigningKey(id: 5, seed: seed)
        #expect(signing.withUnsafeSeedBytes { Array($0) } == seed)
        #expect(try SigningKey(id: 5, seed: seed).verifyingKey == signing.verifyingKey)
    }
}

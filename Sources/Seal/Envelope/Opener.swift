/// Opens and verifies v1 envelopes.
///
/// Keys come from a ``SealKeySource`` (key by `kid` only; then the envelope's mode must be one the
/// key's suite allows); signers are trusted by `sid`. A ``ReplayGuard`` rejects stale, future and
/// replayed messages. Every rejection throws ``SealError`` with code ``SealError/Code/rejected``;
/// ``SealError/reason`` tells which check failed, for logs only.
///
/// `Opener` is safe to use from many tasks at once; signature verification runs in parallel.
public final class Opener: Sendable {
    /// Where keys and trusted signers come from.
    public let keys: any SealKeySource
    /// The replay guard, or nil when replay and freshness checks are disabled (for example for a
    /// one-off verification of a stored message).
    public let replayGuard: ReplayGuard?

    /// Creates an opener.
    ///
    /// - Parameters:
    ///   - keys: the key source, for example a ``KeySet`` or a keyring.
    ///   - replayGuard: the replay guard; pass nil only when messages are not live traffic.
    public init(keys: any SealKeySource, replayGuard: ReplayGuard? = ReplayGuard()) {
        self.keys = keys
        self.replayGuard = replayGuard
    }

    /// Opens `envelope` received on `topic`.
    ///
    /// - Parameters:
    ///   - envelope: the received bytes.
    ///   - topic: the concrete topic the message arrived on.
    ///   - context: the application context the sender bound, if any.
    ///   - retained: true when MQTT delivered the message with the retain flag (a retained copy on
    ///     subscribe). It must have been sealed with `retain: true`; only its age is checked.
    /// - Returns: the payload and what was verified.
    /// - Throws: ``SealError`` with code ``SealError/Code/rejected`` for every rejection.
    public func open(
        _ envelope: [UInt8], topic: String, context: [UInt8]? = nil, retained: Bool = false
    )
        throws(SealError) -> OpenedMessage
    {
        try envelope.withUnsafeBytes { bytes in
            Result { () throws(SealError) -> OpenedMessage in
                try withOptionalBytes(context) { contextBytes throws(SealError) in
                    try withUTF8Bytes(topic) { topicBytes throws(SealError) in
                        try open(bytes, topic: topic, topicBytes: topicBytes, context: contextBytes, retained: retained)
                    }
                }
            }
        }.get()
    }

    /// Opens an envelope in a buffer the caller owns. Same rules as the array variant.
    public func open(
        _ envelope: UnsafeRawBufferPointer, topic: String, context: UnsafeRawBufferPointer? = nil,
        retained: Bool = false
    ) throws(SealError) -> OpenedMessage {
        try withUTF8Bytes(topic) { topicBytes throws(SealError) in
            try open(
                envelope, topic: topic, topicBytes: topicBytes,
                context: context ?? UnsafeRawBufferPointer(start: nil, count: 0), retained: retained)
        }
    }

    private func open(
        _ envelope: UnsafeRawBufferPointer, topic: String, topicBytes: UnsafeRawBufferPointer,
        context: UnsafeRawBufferPointer, retained: Bool
    ) throws(SealError) -> OpenedMessage {
        guard envelope.count <= EnvelopeFormat.maxEnvelopeBytes else { throw .rejected(.malformed) }
        guard topicBytes.count <= EnvelopeFormat.maxTopicBytes else { throw .rejected(.badTopic) }
        guard context.count <= EnvelopeFormat.maxContextBytes else { throw .rejected(.malformed) }
        let header = try EnvelopeHeader(parsing: envelope)
        // A retained delivery must have been sealed for retain; a live delivery may be either.
        if retained && !header.retain { throw .rejected(.malformed) }
        let now = try replayGuard?.checkFreshness(seq: header.seq, retained: retained) ?? 0

        let headerBytes = EnvelopeFormat.headerBytes
        let signatureBytes = header.mode.isSigned ? EnvelopeFormat.signatureBytes : 0
        // Resolve keys: by kid only, then the mode must be one the key's suite allows.
        var key: SealKey?
        var signer: VerifyingKey?
        switch header.mode {
        case .sign:
            guard header.kid == header.sid else { throw .rejected(.malformed) }
            guard let found = keys.signer(id: header.sid, topic: topic) else { throw .rejected(.untrustedSigner) }
            signer = found
        case .encrypt, .encryptAndSign, .mac:
            guard let found = keys.key(id: header.kid, topic: topic) else { throw .rejected(.unknownKey) }
            guard found.suite.allows(header.mode) else { throw .rejected(.modeNotAllowed) }
            key = found
            if header.mode == .encryptAndSign {
                guard let found = keys.signer(id: header.sid, topic: topic) else {
                    throw .rejected(.untrustedSigner)
                }
                signer = found
            }
        }
        guard signer == nil || signer!.id == header.sid else { throw .rejected(.untrustedSigner) }

        // Length checks before any slice: header, nonce, tag or MAC, signature.
        let fixed: Int
        switch key?.primitive {
        case .xchacha: fixed = headerBytes + EnvelopeFormat.xchachaRandomBytes + EnvelopeFormat.aeadTagBytes
        case .aes: fixed = headerBytes + EnvelopeFormat.aesIVBytes + EnvelopeFormat.aeadTagBytes
        case .hmac: fixed = headerBytes + EnvelopeFormat.macBytes
        case nil: fixed = headerBytes
        }
        guard envelope.count >= fixed + signatureBytes else { throw .rejected(.malformed) }
        let signedLength = envelope.count - signatureBytes
        let payloadCount = signedLength - fixed
        let base = envelope.baseAddress!

        // Encrypt-then-sign: the signature covers the ciphertext; AEAD first (cheaper), then the signature.
        let payload: [UInt8]
        switch key?.primitive {
        case .xchacha(let cipher):
            let random = EnvelopeFormat.xchachaRandomBytes
            let sealed = UnsafeRawBufferPointer(start: base + headerBytes + random, count: payloadCount + 16)
            payload = try Self.decrypt(count: payloadCount) { out in
                withUnsafeTemporaryAllocation(byteCount: XChaCha20Poly1305.nonceBytes, alignment: 8) { nonce in
                    nonce.baseAddress!.copyMemory(from: base + 1, byteCount: headerBytes - 1)
                    (nonce.baseAddress! + headerBytes - 1).copyMemory(from: base + headerBytes, byteCount: random)
                    return EnvelopeFormat.withAAD(header: base, topic: topicBytes, context: context) { aad in
                        cipher.open(
                            into: out, ciphertextAndTag: sealed, aad: aad, nonce: UnsafePointer(nonce.mutableBytes))
                    }
                }
            }
        case .aes(let cipher):
            let ivBytes = EnvelopeFormat.aesIVBytes
            let sealed = UnsafeRawBufferPointer(start: base + headerBytes + ivBytes, count: payloadCount + 16)
            let iv = UnsafePointer((base + headerBytes).assumingMemoryBound(to: UInt8.self))
            payload = try Self.decrypt(count: payloadCount) { out in
                EnvelopeFormat.withAAD(header: base, topic: topicBytes, context: context) { aad in
                    cipher.open(into: out, ciphertextAndTag: sealed, aad: aad, iv: iv)
                }
            }
        case .hmac(let mac):
            let clear = UnsafeRawBufferPointer(start: base + headerBytes, count: payloadCount)
            let tag = UnsafeRawBufferPointer(start: base + headerBytes + payloadCount, count: EnvelopeFormat.macBytes)
            let valid = EnvelopeFormat.withAAD(header: base, topic: topicBytes, context: context) { aad in
                mac.verify(tag: tag, first: aad, second: clear)
            }
            guard valid else { throw .rejected(.authenticationFailed) }
            payload = Array(clear)
        case nil:
            payload = Array(UnsafeRawBufferPointer(start: base + headerBytes, count: payloadCount))
        }

        if let signer {
            let signedBody = UnsafeRawBufferPointer(start: base, count: signedLength)
            let signature = UnsafeRawBufferPointer(start: base + signedLength, count: signatureBytes)
            let valid = EnvelopeFormat.withSignatureInput(signedBody: signedBody, topic: topicBytes, context: context) {
                signer.isValidSignature(signature, for: $0)
            }
            guard valid else { throw .rejected(.badSignature) }
        }

        // Only authenticated messages touch the replay state.
        if let replayGuard, !retained {
            try replayGuard.accept(kid: header.kid, sid: header.sid, seq: header.seq, now: now)
        }
        return OpenedMessage(
            payload: payload, mode: header.mode, keyID: header.kid, senderID: header.sid, sequence: header.seq,
            sealedForRetain: header.retain, signer: signer?.id)
    }

    /// Allocates the plaintext once and lets `body` decrypt into it; wipes and rejects on failure.
    @inline(__always)
    private static func decrypt(count: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Bool) throws(SealError) -> [UInt8]
    {
        var ok = false
        let plain = [UInt8](unsafeUninitializedCapacity: max(count, 1)) { buffer, initialized in
            ok = body(buffer.baseAddress!)
            if !ok { buffer.initialize(repeating: 0) }
            initialized = ok ? count : 0
        }
        guard ok else { throw .rejected(.authenticationFailed) }
        return plain
    }
}

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
                        try openMessage(
                            bytes, topic: topic, topicBytes: topicBytes, context: contextBytes, retained: retained)
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
            try openMessage(
                envelope, topic: topic, topicBytes: topicBytes,
                context: context ?? UnsafeRawBufferPointer(start: nil, count: 0), retained: retained)
        }
    }

    /// Opens an envelope into a buffer the caller owns: no allocation. Same rules as the array variants; on any
    /// rejection `output` holds no plaintext.
    ///
    /// - Parameters:
    ///   - envelope: the received bytes.
    ///   - topic: the concrete topic the message arrived on.
    ///   - context: the application context the sender bound, if any.
    ///   - retained: true when MQTT delivered the message with the retain flag; it must have been sealed with
    ///     `retain: true`, and only its age is checked.
    ///   - output: room for the payload, written at its start; `envelope.count` bytes are always enough.
    /// - Returns: what was verified, and how many payload bytes were written.
    /// - Throws: ``SealError`` with code ``SealError/Code/rejected`` for every rejection;
    ///   ``SealError/Code/invalidArgument`` when the envelope is well formed but its payload does not fit `output`
    ///   (nothing is written).
    public func open(
        _ envelope: UnsafeRawBufferPointer, topic: String, context: UnsafeRawBufferPointer? = nil,
        retained: Bool = false, into output: UnsafeMutableRawBufferPointer
    ) throws(SealError) -> OpenedEnvelope {
        try withUTF8Bytes(topic) { topicBytes throws(SealError) in
            let context = context ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let checked = try check(
                envelope, topic: topic, topicBytes: topicBytes, context: context, retained: retained)
            guard checked.payloadCount <= output.count else {
                throw SealError(
                    .invalidArgument, .misuse, "output buffer below the \(checked.payloadCount) payload bytes")
            }
            guard let out = output.baseAddress, checked.payloadCount > 0 else {
                // Nothing to write; an AEAD still authenticates (into a byte of scratch).
                var scratch: UInt8 = 0
                return try verify(checked, envelope, topicBytes: topicBytes, context: context, into: &scratch)
            }
            let payload = out.assumingMemoryBound(to: UInt8.self)
            do throws(SealError) {
                return try verify(checked, envelope, topicBytes: topicBytes, context: context, into: payload)
            } catch {
                // A failed tag (AES-GCM writes before it checks), a bad signature or a replay after the payload
                // was written: leave no plaintext behind.
                Sodium.wipe(UnsafeMutableRawBufferPointer(start: out, count: checked.payloadCount))
                throw error
            }
        }
    }

    private func openMessage(
        _ envelope: UnsafeRawBufferPointer, topic: String, topicBytes: UnsafeRawBufferPointer,
        context: UnsafeRawBufferPointer, retained: Bool
    ) throws(SealError) -> OpenedMessage {
        let checked = try check(envelope, topic: topic, topicBytes: topicBytes, context: context, retained: retained)
        var result: Result<OpenedEnvelope, SealError> = .failure(.rejected(.authenticationFailed))
        let payload = [UInt8](unsafeUninitializedCapacity: max(checked.payloadCount, 1)) { buffer, initialized in
            result = Result { () throws(SealError) in
                try verify(checked, envelope, topicBytes: topicBytes, context: context, into: buffer.baseAddress!)
            }
            if case .success = result {
                initialized = checked.payloadCount
            } else {
                Sodium.wipe(UnsafeMutableRawBufferPointer(buffer))
                initialized = 0
            }
        }
        return OpenedMessage(payload: payload, envelope: try result.get())
    }

    /// An envelope that passed the checks before any cryptography: its header, the key and signer it names,
    /// and its layout.
    private struct Checked {
        let header: EnvelopeHeader
        let key: SealKey?
        let signer: VerifyingKey?
        /// The clock reading of the freshness check.
        let now: UInt64
        let payloadCount: Int
        /// Envelope bytes before the signature (all of them when unsigned).
        let signedLength: Int
        let retained: Bool
    }

    /// Size limits, header, freshness, key and signer lookup and the length checks: everything that needs no
    /// cryptography, in the order of Specs/envelope.md §4.2.
    private func check(
        _ envelope: UnsafeRawBufferPointer, topic: String, topicBytes: UnsafeRawBufferPointer,
        context: UnsafeRawBufferPointer, retained: Bool
    ) throws(SealError) -> Checked {
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
        return Checked(
            header: header, key: key, signer: signer, now: now, payloadCount: signedLength - fixed,
            signedLength: signedLength, retained: retained)
    }

    /// The cryptography of a checked envelope, writing its `payloadCount` payload bytes to `payload`: the AEAD
    /// decrypts there, the clear modes copy there once the MAC verified. Then the signature (encrypt-then-sign:
    /// it covers the ciphertext; the AEAD, cheaper, goes first) and the replay window, which only authenticated
    /// messages touch. On a throw `payload` may hold bytes that the caller must wipe.
    private func verify(
        _ checked: Checked, _ envelope: UnsafeRawBufferPointer, topicBytes: UnsafeRawBufferPointer,
        context: UnsafeRawBufferPointer, into payload: UnsafeMutablePointer<UInt8>
    ) throws(SealError) -> OpenedEnvelope {
        let headerBytes = EnvelopeFormat.headerBytes
        let base = envelope.baseAddress!
        let payloadCount = checked.payloadCount
        switch checked.key?.primitive {
        case .xchacha(let cipher):
            let random = EnvelopeFormat.xchachaRandomBytes
            let sealed = UnsafeRawBufferPointer(start: base + headerBytes + random, count: payloadCount + 16)
            // The 24-byte nonce, on the stack: header[1..<17] (kid, sid, seq) || the 8 random bytes.
            var nonce: (UInt64, UInt64, UInt64) = (0, 0, 0)
            let valid = withUnsafeMutableBytes(of: &nonce) { nonce in
                nonce.baseAddress!.copyMemory(from: base + 1, byteCount: headerBytes - 1)
                (nonce.baseAddress! + headerBytes - 1).copyMemory(from: base + headerBytes, byteCount: random)
                return EnvelopeFormat.withAAD(header: base, topic: topicBytes, context: context) { aad in
                    cipher.open(
                        into: payload, ciphertextAndTag: sealed, aad: aad,
                        nonce: nonce.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            guard valid else { throw .rejected(.authenticationFailed) }
        case .aes(let cipher):
            let ivBytes = EnvelopeFormat.aesIVBytes
            let sealed = UnsafeRawBufferPointer(start: base + headerBytes + ivBytes, count: payloadCount + 16)
            let iv = UnsafePointer((base + headerBytes).assumingMemoryBound(to: UInt8.self))
            let valid = EnvelopeFormat.withAAD(header: base, topic: topicBytes, context: context) { aad in
                cipher.open(into: payload, ciphertextAndTag: sealed, aad: aad, iv: iv)
            }
            guard valid else { throw .rejected(.authenticationFailed) }
        case .hmac(let mac):
            let clear = UnsafeRawBufferPointer(start: base + headerBytes, count: payloadCount)
            let tag = UnsafeRawBufferPointer(start: base + headerBytes + payloadCount, count: EnvelopeFormat.macBytes)
            let valid = EnvelopeFormat.withAAD(header: base, topic: topicBytes, context: context) { aad in
                mac.verify(tag: tag, first: aad, second: clear)
            }
            guard valid else { throw .rejected(.authenticationFailed) }
            if payloadCount > 0 {
                UnsafeMutableRawPointer(payload).copyMemory(from: clear.baseAddress!, byteCount: payloadCount)
            }
        case nil:
            if payloadCount > 0 {
                UnsafeMutableRawPointer(payload).copyMemory(from: base + headerBytes, byteCount: payloadCount)
            }
        }

        let header = checked.header
        if let signer = checked.signer {
            let signatureBytes = EnvelopeFormat.signatureBytes
            let signedBody = UnsafeRawBufferPointer(start: base, count: checked.signedLength)
            let signature = UnsafeRawBufferPointer(start: base + checked.signedLength, count: signatureBytes)
            let valid = EnvelopeFormat.withSignatureInput(signedBody: signedBody, topic: topicBytes, context: context) {
                signer.isValidSignature(signature, for: $0)
            }
            guard valid else { throw .rejected(.badSignature) }
        }
        if let replayGuard, !checked.retained {
            try replayGuard.accept(kid: header.kid, sid: header.sid, seq: header.seq, now: checked.now)
        }
        return OpenedEnvelope(
            payloadCount: payloadCount, mode: header.mode, keyID: header.kid, senderID: header.sid,
            sequence: header.seq, sealedForRetain: header.retain, signer: checked.signer?.id)
    }
}

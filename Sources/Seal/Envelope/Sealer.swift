import Synchronization

/// Seals payloads into v1 envelopes for one key, an optional signing key and one sender id.
///
/// The mode follows from the keys:
///
/// | key | signing key | mode |
/// | --- | --- | --- |
/// | XChaCha20-Poly1305 or AES-256-GCM | none | ``SealMode/encrypt`` |
/// | XChaCha20-Poly1305 or AES-256-GCM | given | ``SealMode/encryptAndSign`` |
/// | HMAC-SHA256 | none | ``SealMode/mac`` |
/// | none (``init(signingKey:clock:)``) | given | ``SealMode/sign`` |
///
/// A `Sealer` is safe to use from many tasks at once. Its sequence numbers are strictly increasing:
/// `seq = max(nowMilliseconds << 16, previous + 1)`, so a restarted sender continues above its old
/// messages without saved state.
public final class Sealer: Sendable {
    /// The mode of every envelope this sealer produces.
    public let mode: SealMode
    /// The sender id (`sid`): the signer's key id in signed modes, else the given or a random id.
    public let senderID: UInt32
    /// The key id (`kid`) written in every header.
    public let keyID: UInt32
    /// Bytes added to each payload: header, nonce, tag and signature as the mode needs.
    public let overhead: Int

    private let key: SealKey?
    private let signingKey: SigningKey?
    /// An injected clock; nil reads ``WallClock`` directly (no closure call on the hot path).
    private let clock: (@Sendable () -> UInt64)?
    private let lastSequence = Atomic<UInt64>(0)

    /// A sealer with a symmetric key, optionally signing with `signingKey` (encrypt-then-sign).
    ///
    /// - Parameters:
    ///   - key: an XChaCha20-Poly1305, AES-256-GCM or HMAC-SHA256 key.
    ///   - signingKey: signs every envelope; only with an AEAD key.
    ///   - senderID: the sender id of unsigned modes; random when nil. With a signing key it must be
    ///     nil or equal to the signing key's id.
    ///   - clock: Unix milliseconds; nil (the default) reads ``WallClock/milliseconds()``. Inject one in tests.
    /// - Throws: ``SealError/Code/invalidConfiguration`` for an HMAC key with a signing key, or a
    ///   sender id that differs from the signing key's id.
    public init(
        key: SealKey, signingKey: SigningKey? = nil, senderID: UInt32? = nil,
        clock: (@Sendable () -> UInt64)? = nil
    ) throws(SealError) {
        try ensureSodium()
        switch (key.suite, signingKey) {
        case (.xchacha20poly1305, nil), (.aes256gcm, nil): mode = .encrypt
        case (.xchacha20poly1305, .some), (.aes256gcm, .some): mode = .encryptAndSign
        case (.hmacSHA256, nil): mode = .mac
        default:
            throw SealError(.invalidConfiguration, .misuse, "a \(key.suite) key cannot be combined with a signing key")
        }
        if let signingKey, let senderID, senderID != signingKey.id {
            throw SealError(.invalidConfiguration, .misuse, "the sender id of a signed mode is the signing key's id")
        }
        self.key = key
        self.signingKey = signingKey
        self.senderID = signingKey?.id ?? senderID ?? Sodium.randomUInt32()
        self.keyID = key.id
        self.clock = clock
        var overhead = EnvelopeFormat.headerBytes
        switch key.primitive {
        case .xchacha: overhead += EnvelopeFormat.xchachaRandomBytes + EnvelopeFormat.aeadTagBytes
        case .aes: overhead += EnvelopeFormat.aesIVBytes + EnvelopeFormat.aeadTagBytes
        case .hmac: overhead += EnvelopeFormat.macBytes
        }
        if signingKey != nil { overhead += EnvelopeFormat.signatureBytes }
        self.overhead = overhead
    }

    /// A sealer that only signs (mode ``SealMode/sign``): the payload stays in clear; `kid` and `sid`
    /// are both the signing key's id.
    public init(
        signingKey: SigningKey, clock: (@Sendable () -> UInt64)? = nil
    ) throws(SealError) {
        try ensureSodium()
        mode = .sign
        key = nil
        self.signingKey = signingKey
        senderID = signingKey.id
        keyID = signingKey.id
        self.clock = clock
        overhead = EnvelopeFormat.headerBytes + EnvelopeFormat.signatureBytes
    }

    /// The largest payload `seal` accepts.
    public static let maxPayloadBytes = EnvelopeFormat.maxPayloadBytes

    /// Seals `payload` for `topic`.
    ///
    /// - Parameters:
    ///   - payload: the application payload.
    ///   - topic: the concrete PUBLISH topic; a receiver on another topic rejects the envelope.
    ///   - context: optional application context bound into the authentication (not sent).
    ///   - retain: set when publishing with the MQTT retain flag; receivers accept the retained copy
    ///     only when it was sealed this way.
    /// - Returns: the envelope bytes.
    /// - Throws: ``SealError/Code/invalidArgument`` when the payload, topic or context is too large.
    public func seal(
        _ payload: [UInt8], topic: String, context: [UInt8]? = nil, retain: Bool = false
    )
        throws(SealError) -> [UInt8]
    {
        try payload.withUnsafeBytes { payloadBytes in
            Result { () throws(SealError) -> [UInt8] in
                try withOptionalBytes(context) { contextBytes throws(SealError) in
                    try withUTF8Bytes(topic) { topicBytes throws(SealError) in
                        try seal(payload: payloadBytes, topic: topicBytes, context: contextBytes, retain: retain)
                    }
                }
            }
        }.get()
    }

    /// Seals `payload` (a buffer the caller owns) for `topic`. Same rules as the array variant.
    public func seal(
        _ payload: UnsafeRawBufferPointer, topic: String, context: UnsafeRawBufferPointer? = nil, retain: Bool = false
    ) throws(SealError) -> [UInt8] {
        try withUTF8Bytes(topic) { topicBytes throws(SealError) in
            try seal(
                payload: payload, topic: topicBytes, context: context ?? UnsafeRawBufferPointer(start: nil, count: 0),
                retain: retain)
        }
    }

    /// Seals `payload` for `topic` into `output`, a buffer the caller owns, without allocating.
    ///
    /// Use it to seal straight into an outgoing packet buffer. The envelope is exactly
    /// ``overhead`` `+ payload.count` bytes; bytes of `output` past it are left untouched.
    ///
    /// - Parameters:
    ///   - payload: the application payload.
    ///   - topic: the concrete PUBLISH topic.
    ///   - context: optional application context bound into the authentication (not sent).
    ///   - retain: set when publishing with the MQTT retain flag.
    ///   - output: at least ``overhead`` `+ payload.count` bytes; it must not overlap `payload`.
    /// - Returns: the number of envelope bytes written at the start of `output`.
    /// - Throws: ``SealError/Code/invalidArgument`` when the payload, topic or context is too large, or
    ///   `output` is too small (then nothing is written).
    public func seal(
        _ payload: UnsafeRawBufferPointer, topic: String, context: UnsafeRawBufferPointer? = nil, retain: Bool = false,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SealError) -> Int {
        try withUTF8Bytes(topic) { topicBytes throws(SealError) in
            let context = context ?? UnsafeRawBufferPointer(start: nil, count: 0)
            try checkLimits(payload: payload, topic: topicBytes, context: context)
            let total = overhead + payload.count
            guard output.count >= total, let p = output.baseAddress else {
                throw SealError(.invalidArgument, .misuse, "output buffer below the \(total) envelope bytes")
            }
            try write(
                into: p, payload: payload, topic: topicBytes, context: context, retain: retain, seq: nextSequence())
            return total
        }
    }

    /// The next sequence number: strictly increasing, at least the current time << 16.
    @inline(__always)
    func nextSequence() -> UInt64 {
        let floor = (clock?() ?? WallClock.milliseconds()) &<< 16
        var last = lastSequence.load(ordering: .relaxed)
        while true {
            let next = Swift.max(floor, last &+ 1)
            let (exchanged, original) = lastSequence.compareExchange(
                expected: last, desired: next, ordering: .relaxed)
            if exchanged { return next }
            last = original
        }
    }

    @inline(__always)
    private func seal(
        payload: UnsafeRawBufferPointer, topic: UnsafeRawBufferPointer, context: UnsafeRawBufferPointer, retain: Bool
    ) throws(SealError) -> [UInt8] {
        try checkLimits(payload: payload, topic: topic, context: context)
        let total = overhead + payload.count
        let seq = nextSequence()
        var failure: SealError?
        let envelope = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let p = UnsafeMutableRawPointer(buffer.baseAddress!)
            do throws(SealError) {
                try write(into: p, payload: payload, topic: topic, context: context, retain: retain, seq: seq)
                initialized = total
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return envelope
    }

    /// Refuses a payload, topic or context above the format's limits.
    @inline(__always)
    private func checkLimits(
        payload: UnsafeRawBufferPointer, topic: UnsafeRawBufferPointer, context: UnsafeRawBufferPointer
    ) throws(SealError) {
        guard payload.count <= EnvelopeFormat.maxPayloadBytes else {
            throw SealError(.invalidArgument, .misuse, "payload above \(EnvelopeFormat.maxPayloadBytes) bytes")
        }
        guard topic.count <= EnvelopeFormat.maxTopicBytes else {
            throw SealError(.invalidArgument, .misuse, "topic above 65535 UTF-8 bytes")
        }
        guard context.count <= EnvelopeFormat.maxContextBytes else {
            throw SealError(.invalidArgument, .misuse, "context above 2^32-1 bytes")
        }
    }

    /// Writes the whole envelope (exactly `overhead + payload.count` bytes) at `p`.
    @inline(__always)
    private func write(
        into p: UnsafeMutableRawPointer, payload: UnsafeRawBufferPointer, topic: UnsafeRawBufferPointer,
        context: UnsafeRawBufferPointer, retain: Bool, seq: UInt64
    ) throws(SealError) {
        let headerBytes = EnvelopeFormat.headerBytes
        EnvelopeFormat.writeHeader(p, mode: mode, retain: retain, kid: keyID, sid: senderID, seq: seq)
        let signedLength: Int
        switch key?.primitive {
        case .xchacha(let cipher):
            let random = EnvelopeFormat.xchachaRandomBytes
            RandomPool.fill(p + headerBytes, count: random)
            let body = headerBytes + random
            try withUnsafeTemporaryAllocation(byteCount: XChaCha20Poly1305.nonceBytes, alignment: 8) {
                nonce throws(SealError) in
                // nonce = header[1..<17] (kid, sid, seq) || the 8 random bytes.
                nonce.baseAddress!.copyMemory(from: p + 1, byteCount: headerBytes - 1)
                (nonce.baseAddress! + headerBytes - 1).copyMemory(from: p + headerBytes, byteCount: random)
                let result = EnvelopeFormat.withAAD(header: p, topic: topic, context: context) { aad in
                    Result { () throws(SealError) in
                        try cipher.seal(
                            into: (p + body).assumingMemoryBound(to: UInt8.self), message: payload, aad: aad,
                            nonce: UnsafePointer(nonce.mutableBytes))
                    }
                }
                try result.get()
            }
            signedLength = body + payload.count + EnvelopeFormat.aeadTagBytes
        case .aes(let cipher):
            // Counted before the IV is drawn: past 2^32 random IVs a collision becomes too likely.
            try cipher.reserveInvocation()
            let ivBytes = EnvelopeFormat.aesIVBytes
            RandomPool.fill(p + headerBytes, count: ivBytes)
            let body = headerBytes + ivBytes
            let result = EnvelopeFormat.withAAD(header: p, topic: topic, context: context) { aad in
                Result { () throws(SealError) in
                    try cipher.seal(
                        into: (p + body).assumingMemoryBound(to: UInt8.self), message: payload, aad: aad,
                        iv: UnsafePointer((p + headerBytes).assumingMemoryBound(to: UInt8.self)))
                }
            }
            try result.get()
            signedLength = body + payload.count + EnvelopeFormat.aeadTagBytes
        case .hmac(let mac):
            if let base = payload.baseAddress, payload.count > 0 {
                (p + headerBytes).copyMemory(from: base, byteCount: payload.count)
            }
            let tag = (p + headerBytes + payload.count).assumingMemoryBound(to: UInt8.self)
            let result = EnvelopeFormat.withAAD(header: p, topic: topic, context: context) { aad in
                Result { () throws(SealError) in try mac.authenticate(into: tag, first: aad, second: payload) }
            }
            try result.get()
            signedLength = headerBytes + payload.count + EnvelopeFormat.macBytes
        case nil:
            if let base = payload.baseAddress, payload.count > 0 {
                (p + headerBytes).copyMemory(from: base, byteCount: payload.count)
            }
            signedLength = headerBytes + payload.count
        }
        if let signingKey {
            let signedBody = UnsafeRawBufferPointer(start: p, count: signedLength)
            let signature = (p + signedLength).assumingMemoryBound(to: UInt8.self)
            let result = EnvelopeFormat.withSignatureInput(signedBody: signedBody, topic: topic, context: context) {
                input in
                Result { () throws(SealError) in
                    try Ed25519.sign(into: signature, message: input, secretKey: signingKey.secretKey)
                }
            }
            try result.get()
        }
    }
}

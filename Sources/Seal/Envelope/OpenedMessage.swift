/// A verified, opened envelope.
public struct OpenedMessage: Sendable, Hashable {
    /// The application payload (decrypted, or the clear payload of MAC and sign modes).
    public let payload: [UInt8]
    /// The envelope's mode.
    public let mode: SealMode
    /// The key id (`kid`) that opened it; in sign mode the signer's key id.
    public let keyID: UInt32
    /// The sender id (`sid`). In signed modes it is the verified signer's key id.
    public let senderID: UInt32
    /// The sequence number: `timestamp << 16 | counter`.
    public let sequence: UInt64
    /// Whether the sender sealed it for a retained publish.
    public let sealedForRetain: Bool
    /// The key id of the signer whose signature verified, or nil when the mode is unsigned.
    public let signer: UInt32?

    /// The sender's timestamp in Unix milliseconds (`sequence >> 16`).
    public var timestampMilliseconds: UInt64 { sequence >> 16 }
    /// Whether an Ed25519 signature was verified (the sender is authenticated individually, not only
    /// as a holder of a shared key).
    public var isSigned: Bool { signer != nil }
}

/// What was verified about an envelope opened into the caller's buffer
/// (``Opener/open(_:topic:context:retained:into:)``): everything of an ``OpenedMessage`` but the payload, and
/// how many payload bytes were written.
public struct OpenedEnvelope: Sendable, Hashable {
    /// Payload bytes written at the start of the output buffer.
    public let payloadCount: Int
    /// The envelope's mode.
    public let mode: SealMode
    /// The key id (`kid`) that opened it; in sign mode the signer's key id.
    public let keyID: UInt32
    /// The sender id (`sid`). In signed modes it is the verified signer's key id.
    public let senderID: UInt32
    /// The sequence number: `timestamp << 16 | counter`.
    public let sequence: UInt64
    /// Whether the sender sealed it for a retained publish.
    public let sealedForRetain: Bool
    /// The key id of the signer whose signature verified, or nil when the mode is unsigned.
    public let signer: UInt32?

    /// The sender's timestamp in Unix milliseconds (`sequence >> 16`).
    public var timestampMilliseconds: UInt64 { sequence >> 16 }
    /// Whether an Ed25519 signature was verified.
    public var isSigned: Bool { signer != nil }
}

extension OpenedMessage {
    /// The message of an envelope opened with `payload`.
    package init(payload: [UInt8], envelope: OpenedEnvelope) {
        self.init(
            payload: payload, mode: envelope.mode, keyID: envelope.keyID, senderID: envelope.senderID,
            sequence: envelope.sequence, sealedForRetain: envelope.sealedForRetain, signer: envelope.signer)
    }
}

extension OpenedEnvelope {
    /// What `message` proved, without its payload.
    package init(describing message: OpenedMessage) {
        self.init(
            payloadCount: message.payload.count, mode: message.mode, keyID: message.keyID,
            senderID: message.senderID, sequence: message.sequence, sealedForRetain: message.sealedForRetain,
            signer: message.signer)
    }
}

/// What names one envelope: its key id, sender id and sequence number (timestamp and counter).
///
/// A sender never reuses a sequence number under one (kid, sid), so two envelopes with the same identity that
/// both authenticate are copies of one message. ``OpenedMessage/identity`` is the identity of an opened
/// envelope; ``init(envelope:)`` reads it from the header alone, without authenticating anything, so use it only
/// for bookkeeping about an envelope the ``Opener`` has judged (for example one it rejected as
/// ``SealError/Reason/outsideWindow``, a check made after authentication).
public struct EnvelopeIdentity: Sendable, Hashable {
    /// The key id.
    public let keyID: UInt32
    /// The sender id (the signer's key id in signed modes).
    public let senderID: UInt32
    /// The sequence number: Unix milliseconds in the upper 48 bits, a counter in the lower 16.
    public let sequence: UInt64

    /// Creates an identity.
    public init(keyID: UInt32, senderID: UInt32, sequence: UInt64) {
        self.keyID = keyID
        self.senderID = senderID
        self.sequence = sequence
    }

    /// The identity in an envelope's header, or nil when the header is malformed. Not authenticated.
    public init?(envelope: UnsafeRawBufferPointer) {
        guard let header = try? EnvelopeHeader(parsing: envelope) else { return nil }
        self.init(keyID: header.kid, senderID: header.sid, sequence: header.seq)
    }
}

extension OpenedMessage {
    /// The envelope's identity (key id, sender id, sequence number).
    public var identity: EnvelopeIdentity { EnvelopeIdentity(keyID: keyID, senderID: senderID, sequence: sequence) }
}

extension SealMode {
    /// The mode an envelope's header names, or nil when the header is malformed. Not authenticated: use it only to
    /// plan work (for example to verify signed envelopes in parallel), never to decide anything about trust.
    public init?(envelopeHeader envelope: UnsafeRawBufferPointer) {
        guard let header = try? EnvelopeHeader(parsing: envelope) else { return nil }
        self = header.mode
    }
}

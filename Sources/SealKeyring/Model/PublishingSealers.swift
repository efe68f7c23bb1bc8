import Seal

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which sealer a publisher asks a snapshot for (``KeyringSnapshot/publishingSealer(for:kind:)``).
package enum PublishingSealerKind: UInt8, Sendable, Hashable {
    /// The topic's primary key, unsigned.
    case unsigned
    /// The topic's primary key, encrypt-then-sign with the topic's signing identity.
    case signed
    /// The topic's primary key, signed when the topic has a signing identity and the key is an AEAD key.
    case signedWhenAvailable
    /// Sign-only with the topic's signing identity (payload in clear).
    case signOnly
}

/// The sealer chosen per topic and kind, for one snapshot: a publish on a topic seen before is one lookup, not the
/// primary selection, the identity search and the sealer cache each time.
///
/// The choice depends only on the snapshot (which never changes) and is exact; the one thing that depends on the
/// time, the primary key's not-after, is kept beside it and checked on every use. Failures are not remembered.
/// Bounded: cleared when it holds ``capacity`` topics.
final class PublishingSealers: Sendable {
    struct Remembered: Sendable {
        let sealer: Sealer
        /// The primary key's not-after (Unix seconds), if it has one.
        let notAfterSeconds: Int64?
    }

    private struct Slot: Hashable {
        let topic: TopicBytes
        let kind: PublishingSealerKind
    }

    static let capacity = 4_096
    private let remembered = BoundedMemory<Slot, Remembered>(capacity: capacity)

    /// The remembered sealer for `topic` and `kind` while its key has not expired; nil otherwise.
    func sealer(for topic: String, kind: PublishingSealerKind) -> Sealer? {
        guard let found = remembered.value(for: Slot(topic: TopicBytes(topic), kind: kind)) else { return nil }
        if let notAfter = found.notAfterSeconds, KeyringTime.seconds(Date()) >= notAfter { return nil }
        return found.sealer
    }

    func remember(_ sealer: Sealer, notAfterSeconds: Int64?, for topic: String, kind: PublishingSealerKind) {
        remembered.remember(
            Remembered(sealer: sealer, notAfterSeconds: notAfterSeconds),
            for: Slot(topic: TopicBytes(topic), kind: kind))
    }

    /// Topics remembered (for tests of the bound).
    var count: Int { remembered.count }
}

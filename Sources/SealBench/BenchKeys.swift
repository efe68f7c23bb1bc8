import Seal
import SealKeyring
import SealedMQTT

/// The in-memory keys of one mode: what the publishers seal with and what the subscribers open with.
///
/// Built from a `Keyring` in memory (no keyring file): the symmetric key is shared by both sides; a signing
/// identity lives in the publishers' keyring and its verifier is imported into the subscribers' keyring.
struct BenchKeys: Sendable {
    let publisher: KeyringSnapshot
    let subscriber: KeyringSnapshot
    let policy: SealedPolicy

    init(mode: BenchMode) throws {
        var shared = Keyring()
        switch mode {
        case .plaintext, .sign:
            break
        case .xchacha20poly1305, .encryptSign:
            try shared.promote(try shared.addKey(suite: .xchacha20poly1305))
        case .aes256gcm:
            try shared.promote(try shared.addKey(suite: .aes256gcm))
        case .mac:
            try shared.promote(try shared.addKey(suite: .hmacSHA256))
        }
        var publisherRing = shared
        var subscriberRing = shared
        var topicPolicy = SealedTopicPolicy(signing: .never)
        if mode.isSigned {
            try publisherRing.newSigningIdentity()
            for verifier in publisherRing.exportVerifiers() { try subscriberRing.importSigner(verifier) }
            topicPolicy =
                mode == .sign
                ? SealedTopicPolicy(requiresSignature: true, signing: .always, sealing: .signOnly)
                : SealedTopicPolicy(requiresSignature: true, signing: .always)
        }
        publisher = KeyringSnapshot(publisherRing)
        subscriber = KeyringSnapshot(subscriberRing)
        policy = try SealedPolicy(default: topicPolicy)
    }
}

import SealedMQTT
import Testing

/// A policy decision uses the same byte-exact matching as the client's routing: the NFC and NFD spellings of one
/// text are two topics, each with its own policy.
@Suite struct SealedPolicyBytesTests {
    @Test func canonicallyEquivalentTopicsKeepTheirOwnPolicies() throws {
        let nfc = "caf\u{00E9}/#"
        let nfd = "cafe\u{0301}/#"
        var policy = SealedPolicy.standard
        try policy.set(SealedTopicPolicy(requiresSignature: true, signing: .always), for: nfc)
        try policy.set(SealedTopicPolicy(allowsPlaintext: true), for: nfd)
        #expect(policy.rules.count == 2)
        #expect(policy.policy(for: "caf\u{00E9}/door").requiresSignature)
        #expect(!policy.policy(for: "caf\u{00E9}/door").allowsPlaintext)
        #expect(!policy.policy(for: "cafe\u{0301}/door").requiresSignature)
        #expect(policy.policy(for: "cafe\u{0301}/door").allowsPlaintext)
    }
}

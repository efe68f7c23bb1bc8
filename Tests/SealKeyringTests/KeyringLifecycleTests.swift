import Testing

@testable import Seal
@testable import SealKeyring

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite struct KeyringLifecycleTests {
    /// `Keyring(keys:)` (benchmarks and tools building large keyrings) checks the same invariants as a file read.
    @Test func aKeyringBuiltInOneStepChecksTheInvariants() throws {
        func key(_ kid: UInt32, _ state: KeyState, _ filter: String) throws -> KeyringKey {
            KeyringKey(
                kid: kid, suite: .xchacha20poly1305, state: state, scope: try TopicScope(parsing: [filter]),
                sealKey: try SealKey(id: kid, suite: .xchacha20poly1305, bytes: [UInt8](repeating: 1, count: 32)),
                createdSeconds: 1_767_225_600, notAfterSeconds: nil)
        }
        let built = try Keyring(keys: [try key(1, .primary, "a/#"), try key(2, .primary, "b/#")])
        #expect(built.keys.map(\.kid) == [1, 2])
        #expect(built.primary(of: try TopicScope(parsing: ["b/#"]))?.kid == 2)
        let refused: [[KeyringKey]] = [
            [try key(1, .primary, "a/#"), try key(1, .pending, "b/#")],
            [try key(1, .primary, "a/#"), try key(2, .primary, "a/#")],
            [try key(0, .pending, "a/#")],
        ]
        for keys in refused {
            #expect { try Keyring(keys: keys) } throws: { ($0 as? KeyringError)?.code == .corrupt }
        }
    }

    /// A keyring with one key brought into `state` through the public operations.
    static func keyring(with state: KeyState) throws -> (Keyring, UInt32) {
        var keyring = Keyring()
        let kid = try keyring.addKey()
        switch state {
        case .pending: break
        case .primary: try keyring.promote(kid)
        case .decryptOnly:
            try keyring.promote(kid)
            try keyring.retire(kid)
        case .disabled: try keyring.disable(kid)
        case .destroyed:
            try keyring.disable(kid)
            try keyring.destroy(kid)
        }
        #expect(keyring.key(kid)?.state == state)
        return (keyring, kid)
    }

    static let allPairs: [(KeyState, KeyState)] = KeyState.allCases.flatMap { from in
        KeyState.allCases.map { (from, $0) }
    }

    @Test(arguments: allPairs)
    func everyTransition(from: KeyState, to: KeyState) throws {
        var (keyring, kid) = try Self.keyring(with: from)
        let before = keyring
        if from.allowedTransitions.contains(to) {
            try keyring.transition(kid, to: to)
            #expect(keyring.key(kid)?.state == to)
            #expect((keyring.key(kid)?.sealKey == nil) == (to == .destroyed))
        } else {
            #expect {
                try keyring.transition(kid, to: to)
            } throws: { error in
                let error = error as! KeyringError
                guard error.code == .invalidTransition, !error.message.contains("\n") else { return false }
                // The message names every valid transition (or says there is none).
                if from.allowedTransitions.isEmpty { return error.message.contains("final") }
                return from.allowedTransitions.allSatisfy { error.message.contains($0.rawValue) }
            }
            #expect(keyring.key(kid)?.state == before.key(kid)?.state)
        }
    }

    static func apply(_ operation: String, _ keyring: inout Keyring, _ kid: UInt32) throws(KeyringError) {
        switch operation {
        case "promote": try keyring.promote(kid)
        case "retire": try keyring.retire(kid)
        case "disable": try keyring.disable(kid)
        case "enable": try keyring.enable(kid)
        case "destroy": try keyring.destroy(kid)
        default: Issue.record("unknown operation \(operation)")
        }
    }

    static let operations: [(String, [KeyState])] = [
        ("promote", [.pending, .decryptOnly]), ("retire", [.primary]), ("disable", [.pending, .decryptOnly]),
        ("enable", [.disabled]), ("destroy", [.disabled]),
    ]

    /// The named operations apply only to their source states.
    @Test(arguments: KeyState.allCases)
    func namedOperationsRefuseWrongStates(state: KeyState) throws {
        for (name, sources) in Self.operations {
            var (keyring, kid) = try Self.keyring(with: state)
            if sources.contains(state) {
                #expect(throws: Never.self, "\(name) from \(state)") { try Self.apply(name, &keyring, kid) }
            } else {
                #expect("\(name) from \(state)") {
                    try Self.apply(name, &keyring, kid)
                } throws: { error in
                    let error = error as! KeyringError
                    return error.code == .invalidTransition && error.message.contains(name)
                        && error.message.contains(state.rawValue)
                }
                #expect(keyring.key(kid)?.state == state)
            }
        }
    }

    @Test func unknownKidIsRefused() throws {
        var (keyring, kid) = try Self.keyring(with: .pending)
        let other = kid &+ 1 == 0 ? 1 : kid &+ 1
        for (name, _) in Self.operations {
            #expect { try Self.apply(name, &keyring, other) } throws: { ($0 as! KeyringError).code == .unknownKey }
        }
    }

    @Test func promotionDemotesThePreviousPrimaryOfTheSameScopeOnly() throws {
        var keyring = Keyring()
        let sensors = try TopicScope(parsing: ["sensors/#"])
        let first = try keyring.addKey(scope: sensors)
        let other = try keyring.addKey(scope: .all)
        try keyring.promote(first)
        try keyring.promote(other)
        let second = try keyring.addKey(scope: sensors)
        let demoted = try keyring.promote(second)
        #expect(demoted == first)
        #expect(keyring.key(first)?.state == .decryptOnly)
        #expect(keyring.key(second)?.state == .primary)
        #expect(keyring.key(other)?.state == .primary)
        // Rolling back: promote the old key again.
        #expect(try keyring.promote(first) == second)
        #expect(keyring.keys.filter { $0.state == .primary && $0.scope == sensors }.count == 1)
    }

    @Test func rotateAddsAndPromotesWithTheSameScopeAndSuite() throws {
        var keyring = Keyring()
        let scope = try TopicScope(parsing: ["x/#"])
        // A scope without a primary gets its first one, of the default suite unless one is named.
        let fresh = try keyring.rotate(scope: try TopicScope(parsing: ["y/#"]))
        #expect(keyring.key(fresh)?.state == .primary && keyring.key(fresh)?.suite == .xchacha20poly1305)
        let old = try keyring.addKey(suite: .aes256gcm, scope: scope)
        try keyring.promote(old)
        let new = try keyring.rotate(scope: scope)
        #expect(new != old)
        #expect(keyring.key(new)?.suite == .aes256gcm)
        #expect(keyring.key(new)?.state == .primary)
        #expect(keyring.key(old)?.state == .decryptOnly)
    }

    @Test func destroyedKeyStaysAsTombstoneWithoutSecret() throws {
        var (keyring, kid) = try Self.keyring(with: .destroyed)
        #expect(keyring.keys.count == 1)
        #expect(keyring.key(kid)?.sealKey == nil)
        // Many new keys never reuse the tombstone's kid (ids are random, excluded when taken).
        for _ in 0..<200 { _ = try keyring.addKey() }
        #expect(Set(keyring.keys.map(\.kid)).count == 201)
    }

    @Test func symmetricKeysRefuseEd25519AndPastNotAfter() throws {
        var keyring = Keyring()
        #expect { try keyring.addKey(suite: .ed25519) } throws: { ($0 as! KeyringError).code == .invalidArgument }
        let now = try KeyringTime.parse("2026-01-01T00:00:00Z")
        #expect {
            try keyring.addKey(notAfter: now, now: now)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
        #expect(keyring.keys.isEmpty)
    }

    @Test func sealingPicksTheMostSpecificPrimary() throws {
        var keyring = Keyring()
        let everything = try keyring.addKey(scope: .all)
        let sensors = try keyring.addKey(scope: TopicScope(parsing: ["sensors/#"]))
        let plus = try keyring.addKey(scope: TopicScope(parsing: ["sensors/+/temp"]))
        let exact = try keyring.addKey(scope: TopicScope(parsing: ["sensors/kitchen/temp", "zzz"]))
        let pending = try keyring.addKey(scope: TopicScope(parsing: ["sensors/attic/temp"]))
        for kid in [everything, sensors, plus, exact] { try keyring.promote(kid) }
        let snapshot = KeyringSnapshot(keyring)
        #expect(try snapshot.primaryKey(for: "sensors/kitchen/temp").kid == exact)
        #expect(try snapshot.primaryKey(for: "sensors/attic/temp").kid == plus)  // the pending key never seals
        #expect(try snapshot.primaryKey(for: "sensors/attic/humidity").kid == sensors)
        #expect(try snapshot.primaryKey(for: "sensors").kid == sensors)
        #expect(try snapshot.primaryKey(for: "other").kid == everything)
        #expect { try snapshot.primaryKey(for: "$SYS/x") } throws: { ($0 as! KeyringError).code == .noPrimary }
        #expect { try snapshot.primaryKey(for: "a/+") } throws: { ($0 as! KeyringError).code == .invalidArgument }
        _ = pending
    }

    @Test func sealingWithoutAnyMatchingPrimaryFails() throws {
        var keyring = Keyring()
        let kid = try keyring.addKey(scope: TopicScope(parsing: ["a/#"]))
        #expect {
            try KeyringSnapshot(keyring).primaryKey(for: "a/b")
        } throws: { ($0 as! KeyringError).code == .noPrimary }
        #expect(keyring.scopesWithoutPrimary == [try TopicScope(parsing: ["a/#"])])
        try keyring.promote(kid)
        try keyring.retire(kid)
        #expect {
            try KeyringSnapshot(keyring).primaryKey(for: "a/b")
        } throws: { ($0 as! KeyringError).code == .noPrimary }
    }

    @Test func expiredPrimaryDoesNotSeal() throws {
        var keyring = Keyring()
        let now = try KeyringTime.parse("2026-01-01T00:00:00Z")
        let limit = try KeyringTime.parse("2026-06-01T00:00:00Z")
        let kid = try keyring.addKey(notAfter: limit, now: now)
        try keyring.promote(kid, now: now)
        let snapshot = KeyringSnapshot(keyring)
        #expect(try snapshot.primaryKey(for: "t", now: now).kid == kid)
        #expect {
            try snapshot.primaryKey(for: "t", now: limit)
        } throws: { ($0 as! KeyringError).code == .keyUnusable }
        // Still opens.
        #expect(try snapshot.openingKey(kid: kid, topic: "t").kid == kid)
        var later = keyring
        try later.retire(kid)
        #expect { try later.promote(kid, now: limit) } throws: { ($0 as! KeyringError).code == .keyUnusable }
    }

    @Test(arguments: KeyState.allCases)
    func openingAcceptsOnlyPendingPrimaryAndDecryptOnly(state: KeyState) throws {
        let (keyring, kid) = try Self.keyring(with: state)
        let snapshot = KeyringSnapshot(keyring)
        if [.pending, .primary, .decryptOnly].contains(state) {
            #expect(try snapshot.openingKey(kid: kid, topic: "any/topic").kid == kid)
        } else {
            #expect {
                try snapshot.openingKey(kid: kid, topic: "any/topic")
            } throws: { ($0 as! KeyringError).code == .keyUnusable }
        }
    }

    @Test func keyOutsideItsFilterIsRejected() throws {
        var keyring = Keyring()
        let kid = try keyring.addKey(scope: TopicScope(parsing: ["tenant-a/#"]))
        try keyring.promote(kid)
        let snapshot = KeyringSnapshot(keyring)
        #expect(try snapshot.openingKey(kid: kid, topic: "tenant-a/x").kid == kid)
        #expect {
            try snapshot.openingKey(kid: kid, topic: "tenant-b/x")
        } throws: { ($0 as! KeyringError).code == .topicNotAllowed }
        #expect {
            try snapshot.primaryKey(for: "tenant-b/x")
        } throws: { ($0 as! KeyringError).code == .noPrimary }
        #expect {
            try snapshot.openingKey(kid: kid &+ 1, topic: "tenant-a/x")
        } throws: { ($0 as! KeyringError).code == .unknownKey }
    }

    @Test func ownIdentitiesVerifyOnlyOnTheirScope() throws {
        var keyring = Keyring()
        let sid = try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["fleet/#"]))
        let snapshot = KeyringSnapshot(keyring)
        let identity = try #require(keyring.identity(sid))
        #expect(snapshot.signer(id: sid, topic: "fleet/a")?.rawRepresentation == identity.publicKey)
        #expect(snapshot.signer(id: sid, topic: "other/a") == nil)
        #expect(snapshot.signer(id: sid &+ 1, topic: "fleet/a") == nil)
        #expect(try snapshot.trustedSigner(sid: sid, topic: "fleet/a").publicKey == identity.publicKey)
        // End to end: a message signed by the identity opens with the same keyring.
        let kid = try keyring.addKey()
        _ = try keyring.promote(kid)
        let signing = KeyringSnapshot(keyring)
        let envelope = try signing.sealer(for: "fleet/a", sign: true).seal([1, 2, 3], topic: "fleet/a")
        let opened = try Opener(keys: signing).open(envelope, topic: "fleet/a")
        #expect(opened.signer == sid && opened.payload == [1, 2, 3])
    }

    @Test func signersAreTrustedOnlyOnTheirTopicsAndWhileActive() throws {
        var alice = Keyring()
        let sid = try alice.newSigningIdentity(scope: try TopicScope(parsing: ["alice/#"]))
        var bob = Keyring()
        let verifiers = alice.exportVerifiers()
        #expect(verifiers.count == 1 && verifiers[0].sid == sid)
        try bob.importSigner(verifiers[0])
        #expect(try KeyringSnapshot(bob).trustedSigner(sid: sid, topic: "alice/x").publicKey == verifiers[0].publicKey)
        #expect {
            try KeyringSnapshot(bob).trustedSigner(sid: sid, topic: "bob/x")
        } throws: { ($0 as! KeyringError).code == .topicNotAllowed }
        #expect {
            try KeyringSnapshot(bob).trustedSigner(sid: sid &+ 1, topic: "alice/x")
        } throws: { ($0 as! KeyringError).code == .unknownKey }
        // Import twice: refused.
        #expect { try bob.importSigner(verifiers[0]) } throws: { ($0 as! KeyringError).code == .invalidArgument }
        try bob.setSignerState(sid, to: .disabled)
        #expect {
            try KeyringSnapshot(bob).trustedSigner(sid: sid, topic: "alice/x")
        } throws: { ($0 as! KeyringError).code == .keyUnusable }
        try bob.setSignerState(sid, to: .active)
        try bob.setSignerState(sid, to: .revoked)
        #expect {
            try bob.setSignerState(sid, to: .active)
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .invalidTransition && error.message.contains("revoked")
        }
        // The own identity is chosen by topic.
        #expect(try KeyringSnapshot(alice).signingIdentity(for: "alice/1").sid == sid)
        #expect {
            try KeyringSnapshot(alice).signingIdentity(for: "bob/1")
        } throws: { ($0 as! KeyringError).code == .noPrimary }
    }

    @Test func invalidSignerPublicKeysAreRefused() throws {
        var keyring = Keyring()
        let identity = [UInt8](repeating: 0, count: 32)  // small-order point (identity element encoding is 01 00..)
        var smallOrder = [UInt8](repeating: 0, count: 32)
        smallOrder[0] = 1
        for bad in [identity, smallOrder, [UInt8](repeating: 0xff, count: 32), [UInt8](repeating: 9, count: 31)] {
            #expect {
                try keyring.importSigner(KeyringSigner(sid: 7, publicKey: bad))
            } throws: { ($0 as! KeyringError).code == .invalidArgument }
        }
        var peer = Keyring()
        try peer.newSigningIdentity()
        let valid = peer.exportVerifiers()[0].publicKey
        #expect {
            try keyring.importSigner(KeyringSigner(sid: 0, publicKey: valid))
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
        #expect(keyring.signers.isEmpty)
    }
}

@Suite struct KeyringVerifierBundleTests {
    @Test func exportAndImportRoundTrip() throws {
        var alice = Keyring()
        let one = try alice.newSigningIdentity(scope: TopicScope(parsing: ["alice/#", "shared/+"]))
        let two = try alice.newSigningIdentity()
        let bundle = KeyringVerifiers.encode(alice.exportVerifiers())
        let text = String(decoding: bundle, as: UTF8.self)
        #expect(text.contains("mqtt-seal-verifiers") && text.contains(KeyringID.format(one)))
        let decoded = try KeyringVerifiers.decode(bundle)
        #expect(decoded.map(\.sid) == [one, two])
        #expect(decoded == alice.exportVerifiers())
        var bob = Keyring()
        for signer in decoded { try bob.importSigner(signer) }
        #expect(bob.signers.count == 2)
    }

    @Test func malformedBundlesAreRejected() throws {
        var alice = Keyring()
        let sid = try alice.newSigningIdentity()
        let good = String(decoding: KeyringVerifiers.encode(alice.exportVerifiers()), as: UTF8.self)
        let publicKey = KeyringCodec.base64(alice.exportVerifiers()[0].publicKey)
        let badPoint = KeyringCodec.base64([UInt8](repeating: 0, count: 32))
        let cases: [(String, KeyringError.Code)] = [
            ("", .corrupt),
            ("{", .corrupt),
            (good.replacing("\"version\": 1", with: "\"version\": 2"), .unsupportedVersion),
            (good.replacing("mqtt-seal-verifiers", with: "mqtt-seal-keyring"), .corrupt),
            (good.replacing(publicKey, with: badPoint), .corrupt),
            (good.replacing(KeyringID.format(sid), with: "00000000"), .corrupt),
            (good.replacing(KeyringID.format(sid), with: "ABCDEF12"), .corrupt),
            (good.replacing("\"topics\"", with: "\"topicz\""), .corrupt),
            (good.replacing("[\"#\"]", with: "[\"a/#/b\"]"), .corrupt),
        ]
        for (text, code) in cases {
            #expect(text != good || text.isEmpty)
            #expect {
                try KeyringVerifiers.decode(Array(text.utf8))
            } throws: { error in
                let error = error as! KeyringError
                return error.code == code && !error.message.contains("\n")
            }
        }
    }
}

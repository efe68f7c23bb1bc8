import Foundation
import Testing

@testable import Seal
@testable import SealKeyring

/// The publishing sealer a snapshot remembers per topic (`KeyringSnapshot.publishingSealer(for:kind:)`): the same
/// choice as the full selection, one slot per spelling (UTF-8 bytes), bounded, and never past a key's not-after.
@Suite struct PublishingSealerTests {
    @Test func eachKindChoosesAsTheFullSelectionDoesAndIsRememberedOnce() throws {
        var keyring = Keyring()
        let wide = try keyring.addKey()
        try keyring.promote(wide)
        let mac = try keyring.addKey(suite: .hmacSHA256, scope: try TopicScope(parsing: ["meters/#"]))
        try keyring.promote(mac)
        let sid = try keyring.newSigningIdentity(scope: try TopicScope(parsing: ["plant/#"]))
        let snapshot = KeyringSnapshot(keyring)

        let unsigned = try snapshot.publishingSealer(for: "plant/a", kind: .unsigned)
        #expect(unsigned.keyID == wide && unsigned.mode == .encrypt)
        let signed = try snapshot.publishingSealer(for: "plant/a", kind: .signed)
        #expect(signed.keyID == wide && signed.mode == .encryptAndSign && signed.senderID == sid)
        // Signed when available: signed on plant/, unsigned where no identity signs, never with an HMAC key.
        #expect(try snapshot.publishingSealer(for: "plant/a", kind: .signedWhenAvailable).mode == .encryptAndSign)
        #expect(try snapshot.publishingSealer(for: "other/a", kind: .signedWhenAvailable).mode == .encrypt)
        #expect(try snapshot.publishingSealer(for: "meters/1", kind: .signedWhenAvailable).mode == .mac)
        #expect(try snapshot.publishingSealer(for: "plant/a", kind: .signOnly).mode == .sign)
        #expect(snapshot.publishing.count == 6)

        // Asked again: the same sealer objects (so sequence numbers keep increasing), nothing new remembered.
        #expect(try snapshot.publishingSealer(for: "plant/a", kind: .unsigned) === unsigned)
        #expect(try snapshot.publishingSealer(for: "plant/a", kind: .signed) === signed)
        #expect(snapshot.publishing.count == 6)
        // And the very sealers of the uncached path.
        #expect(try snapshot.sealer(for: "plant/a") === unsigned)
        #expect(try snapshot.sealer(for: "plant/a", sign: true) === signed)
    }

    @Test func failuresAreNotRememberedAndStayTypedErrors() throws {
        var keyring = Keyring()
        let kid = try keyring.addKey(scope: try TopicScope(parsing: ["plant/#"]))
        try keyring.promote(kid)
        let snapshot = KeyringSnapshot(keyring)
        for _ in 0..<2 {
            #expect {
                try snapshot.publishingSealer(for: "elsewhere/a", kind: .unsigned)
            } throws: { ($0 as? KeyringError)?.code == .noPrimary }
            #expect {
                try snapshot.publishingSealer(for: "plant/a", kind: .signed)
            } throws: { ($0 as? KeyringError)?.code == .noPrimary }
            #expect {
                try snapshot.publishingSealer(for: "plant/+", kind: .unsigned)
            } throws: { ($0 as? KeyringError)?.code == .invalidArgument }
        }
        #expect(snapshot.publishing.count == 0)
    }

    @Test func theNFCAndNFDSpellingsHaveTheirOwnSlots() throws {
        let (keyring, nfcKey, nfdKey) = try twoSpellingsKeyring()
        let snapshot = KeyringSnapshot(keyring)
        for _ in 0..<2 {
            #expect(try snapshot.publishingSealer(for: "caf\u{00E9}/u", kind: .unsigned).keyID == nfcKey)
            #expect(try snapshot.publishingSealer(for: "cafe\u{0301}/u", kind: .unsigned).keyID == nfdKey)
        }
        #expect(snapshot.publishing.count == 2)
    }

    @Test func theMemoryIsBoundedAndChoicesSurviveItsClearing() throws {
        var keyring = Keyring()
        let kid = try keyring.addKey()
        try keyring.promote(kid)
        let snapshot = KeyringSnapshot(keyring)
        for index in 0...PublishingSealers.capacity {
            #expect(try snapshot.publishingSealer(for: "t/\(index)", kind: .unsigned).keyID == kid)
        }
        #expect(snapshot.publishing.count <= PublishingSealers.capacity)
        #expect(snapshot.publishing.count >= 1)
    }

    @Test func aRememberedSealerIsNotServedPastItsKeysNotAfter() throws {
        var keyring = Keyring()
        let kid = try keyring.addKey()
        try keyring.promote(kid)
        let sealer = try KeyringSnapshot(keyring).sealer(for: "t")
        let memory = PublishingSealers()
        let past = KeyringTime.seconds(Date()) - 1
        memory.remember(sealer, notAfterSeconds: past, for: "t", kind: .unsigned)
        #expect(memory.sealer(for: "t", kind: .unsigned) == nil)
        memory.remember(sealer, notAfterSeconds: past + 3_600, for: "t", kind: .unsigned)
        #expect(memory.sealer(for: "t", kind: .unsigned) === sealer)
        #expect(memory.sealer(for: "t", kind: .signed) == nil)
        memory.remember(sealer, notAfterSeconds: nil, for: "t", kind: .signed)
        #expect(memory.sealer(for: "t", kind: .signed) === sealer)
    }
}

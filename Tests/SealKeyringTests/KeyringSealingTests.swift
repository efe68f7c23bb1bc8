import Testing

@testable import Seal
@testable import SealKeyring

/// The keyring as the envelope's key source: real Sealer and Opener, no mocks.
@Suite struct KeyringSealingTests {
    static func opener(_ source: any SealKeySource) -> Opener { Opener(keys: source, replayGuard: nil) }

    @Test func sealWithThePrimaryAndOpenThroughTheSnapshot() throws {
        var keyring = Keyring()
        let kid = try keyring.addKey(scope: TopicScope(parsing: ["home/#"]))
        try keyring.promote(kid)
        let snapshot = KeyringSnapshot(keyring)
        let sealer = try snapshot.sealer(for: "home/door")
        #expect(sealer.keyID == kid)
        #expect(try snapshot.sealer(for: "home/window") === sealer)  // cached per key
        let envelope = try sealer.seal(Array("open".utf8), topic: "home/door")
        let opened = try Self.opener(snapshot).open(envelope, topic: "home/door")
        #expect(opened.payload == Array("open".utf8))
        #expect(opened.keyID == kid)
    }

    @Test func keyOutsideItsFilterDoesNotOpen() throws {
        var keyring = Keyring()
        let a = try keyring.addKey(scope: TopicScope(parsing: ["tenant-a/#"]))
        try keyring.promote(a)
        let snapshot = KeyringSnapshot(keyring)
        // A tenant-a key used to seal a tenant-b topic (a sealer built by hand, bypassing selection).
        let forged = try Sealer(key: keyring.key(a)!.sealKey!).seal([1, 2, 3], topic: "tenant-b/x")
        #expect(snapshot.key(id: a, topic: "tenant-b/x") == nil)
        #expect(throws: SealError.self) { try Self.opener(snapshot).open(forged, topic: "tenant-b/x") }
    }

    @Test(arguments: KeyState.allCases)
    func openerFollowsTheKeyState(state: KeyState) throws {
        var keyring = Keyring()
        let kid = try keyring.addKey()
        let material = keyring.key(kid)!.sealKey!
        let envelope = try Sealer(key: material).seal([7], topic: "t")
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
        let opener = Self.opener(KeyringSnapshot(keyring))
        if state.opens {
            #expect(try opener.open(envelope, topic: "t").payload == [7])
        } else {
            #expect(throws: SealError.self) { try opener.open(envelope, topic: "t") }
        }
    }

    @Test func signedMessagesNeedATrustedInScopeSigner() throws {
        var sender = Keyring()
        let kid = try sender.addKey()
        try sender.promote(kid)
        let sid = try sender.newSigningIdentity(scope: TopicScope(parsing: ["plant/line1/#"]))
        var receiver = Keyring()
        receiver.keys = sender.keys  // the shared group key
        let snapshot = KeyringSnapshot(sender)
        let sealer = try snapshot.sealer(for: "plant/line1/temp", sign: true)
        #expect(sealer.senderID == sid)
        let envelope = try sealer.seal([42], topic: "plant/line1/temp")
        // Unknown signer: rejected.
        #expect(throws: SealError.self) {
            try Self.opener(KeyringSnapshot(receiver)).open(envelope, topic: "plant/line1/temp")
        }
        // Trusted, but only on line2: rejected on line1.
        let verifier = sender.exportVerifiers()[0]
        var narrow = receiver
        try narrow.importSigner(
            KeyringSigner(sid: sid, publicKey: verifier.publicKey, scope: TopicScope(parsing: ["plant/line2/#"])))
        #expect(throws: SealError.self) {
            try Self.opener(KeyringSnapshot(narrow)).open(envelope, topic: "plant/line1/temp")
        }
        try receiver.importSigner(verifier)
        let opened = try Self.opener(KeyringSnapshot(receiver)).open(envelope, topic: "plant/line1/temp")
        #expect(opened.signer == sid && opened.payload == [42])
        try receiver.setSignerState(sid, to: .disabled)
        #expect(throws: SealError.self) {
            try Self.opener(KeyringSnapshot(receiver)).open(envelope, topic: "plant/line1/temp")
        }
        // The sender's identity does not sign outside its scope; sign-only works in scope.
        #expect {
            try snapshot.sealer(for: "plant/line2/temp", sign: true)
        } throws: { ($0 as! KeyringError).code == .noPrimary }
        #expect(try snapshot.signingSealer(for: "plant/line1/x").mode == .sign)
    }

    @Test func hmacKeysCannotBeCombinedWithSigning() throws {
        var keyring = Keyring()
        let kid = try keyring.addKey(suite: .hmacSHA256)
        try keyring.promote(kid)
        try keyring.newSigningIdentity()
        let snapshot = KeyringSnapshot(keyring)
        #expect(try snapshot.sealer(for: "t").mode == .mac)
        #expect {
            try snapshot.sealer(for: "t", sign: true)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
    }

    /// Rotation without loss: receivers get the pending key first, then the sender promotes it.
    @Test func rotationWithoutLoss() throws {
        var keyring = Keyring()
        let old = try keyring.addKey()
        try keyring.promote(old)
        let beforeRotation = try KeyringSnapshot(keyring).sealer(for: "t").seal([1], topic: "t")
        let new = try keyring.addKey()  // distributed as pending
        let receiver = Self.opener(KeyringSnapshot(keyring))
        var sender = keyring
        try sender.promote(new)
        let afterRotation = try KeyringSnapshot(sender).sealer(for: "t").seal([2], topic: "t")
        #expect(try receiver.open(beforeRotation, topic: "t").payload == [1])
        #expect(try receiver.open(afterRotation, topic: "t").keyID == new)
        let retiredView = Self.opener(KeyringSnapshot(sender))
        #expect(try retiredView.open(beforeRotation, topic: "t").keyID == old)
    }
}

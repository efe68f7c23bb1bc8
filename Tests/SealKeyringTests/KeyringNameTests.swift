import Testing

@testable import Seal
@testable import SealKeyring

/// Names of signing identities (and of the signers imported from them): validation, uniqueness, the file, the
/// verifier bundle, and selecting an identity by name for sealing.
@Suite struct KeyringNameTests {
    @Test(arguments: ["", "-leading-dash", "has space", "semi;colon", "ünïcode", String(repeating: "a", count: 65)])
    func invalidNamesAreRefused(_ name: String) {
        var keyring = Keyring()
        #expect {
            try keyring.newSigningIdentity(name: name)
        } throws: { ($0 as! KeyringError).code == .invalidArgument }
        #expect(keyring.identities.isEmpty)
    }

    @Test func namesAreUniqueAndDefaulted() throws {
        var keyring = Keyring()
        let named = try keyring.newSigningIdentity(name: "gw-1.plant_7@site")
        #expect(keyring.identity(named: "gw-1.plant_7@site")?.sid == named)
        #expect {
            try keyring.newSigningIdentity(name: "gw-1.plant_7@site")
        } throws: { ($0 as! KeyringError).code == .alreadyExists }
        let unnamed = try keyring.newSigningIdentity()
        #expect(keyring.identity(unnamed)?.name == "identity-\(KeyringID.format(unnamed))")
        #expect(keyring.identities.count == 2)
    }

    @Test func namesSurviveTheFileAndTheVerifierBundle() throws {
        let dir = KeyringTempDir()
        let file = KeyringFile(path: dir.file("names.keyring"))
        var keyring = Keyring()
        let sid = try keyring.newSigningIdentity(name: "sensor-7", scope: TopicScope(parsing: ["s/7/#"]))
        var peer = Keyring()
        try peer.newSigningIdentity(name: "peer-gw")
        try keyring.importSigner(peer.exportVerifiers()[0])
        try file.create(keyring, credential: KeyringFixtures.passphrase(), kdf: KeyringFixtures.kdf)

        let loaded = try file.load(credential: KeyringFixtures.passphrase())
        #expect(loaded.identity(sid)?.name == "sensor-7")
        #expect(loaded.signers.first?.name == "peer-gw")
        let text = String(decoding: KeyringTestIO.readAll(file.path), as: UTF8.self)
        #expect(text.contains("\"name\": \"sensor-7\""))

        // The name is bound into the identity's secret (AAD) and the MAC: renaming it in the file is detected.
        let renamed = text.replacing("\"name\": \"sensor-7\"", with: "\"name\": \"sensor-8\"")
        KeyringTestIO.replace(file.path, with: Array(renamed.utf8))
        #expect {
            try file.load(credential: KeyringFixtures.passphrase())
        } throws: { ($0 as! KeyringError).code == .corrupt }

        let bundle = KeyringVerifiers.encode(loaded.exportVerifiers())
        #expect(try KeyringVerifiers.decode(bundle).first?.name == "sensor-7")
        let badName = String(decoding: bundle, as: UTF8.self).replacing("sensor-7", with: "bad name")
        #expect {
            try KeyringVerifiers.decode(Array(badName.utf8))
        } throws: { ($0 as! KeyringError).code == .corrupt }
    }

    @Test func sealingSelectsTheIdentityByName() throws {
        var keyring = Keyring()
        try keyring.promote(try keyring.addKey())
        let wide = try keyring.newSigningIdentity(name: "wide")
        let narrow = try keyring.newSigningIdentity(name: "narrow", scope: TopicScope(parsing: ["n/#"]))
        let snapshot = KeyringSnapshot(keyring)

        #expect(try snapshot.sealer(for: "n/1", signAs: "wide").senderID == wide)
        #expect(try snapshot.sealer(for: "n/1", sign: true).senderID == narrow)
        #expect(try snapshot.signingSealer(for: "n/1", signAs: "narrow").senderID == narrow)
        #expect {
            try snapshot.sealer(for: "other", signAs: "narrow")
        } throws: { ($0 as! KeyringError).code == .topicNotAllowed }
        #expect {
            try snapshot.sealer(for: "n/1", signAs: "nobody")
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .unknownKey && error.message.contains("known: wide, narrow")
        }
    }
}

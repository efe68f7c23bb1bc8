import Testing

@testable import SealKeyring

/// The strict JSON subset (Specs/keyring.md §1): wrong types, `null`, duplicate members and non-integer numbers
/// are `corrupt`, although `JSONDecoder` alone would take them.
@Suite struct KeyringStrictJSONTests {
    let dir = KeyringTempDir()
    var path: String { dir.file("keyring.json") }
    let credential = KeyringFixtures.passphrase()

    @Test func whatTheWriterWritesIsAccepted() throws {
        let (keyring, _) = try KeyringFixtures.populated()
        let file = KeyringFile(path: path)
        try file.create(keyring, credential: credential, kdf: KeyringFixtures.kdf)
        try StrictJSON.check(KeyringTestIO.readAll(path))
        try StrictJSON.check(KeyringVerifiers.encode(keyring.exportVerifiers()))
        for text in ["{}", "[]", "\"\"", "0", "18446744073709551615", "{\"a\":[1,{\"b\":\"\\u00e9\\ud83d\\ude00\"}]}"] {
            #expect(throws: Never.self, "\(text)") { try StrictJSON.check(Array(text.utf8)) }
        }
    }

    @Test(arguments: [
        ("{\"a\":null}", "null"), ("{\"a\":true}", "boolean"), ("{\"a\":false}", "boolean"),
        ("{\"a\":1.0}", "not an integer"), ("{\"a\":1e0}", "not an integer"), ("{\"a\":-1}", "negative"),
        ("{\"a\":01}", "leading zero"), ("{\"a\":18446744073709551616}", "above 2^64-1"),
        ("{\"a\":1,\"a\":1}", "duplicate member \"a\""), ("{\"\\u0061\":1,\"a\":2}", "duplicate member \"a\""),
        ("{\"a\":\"x\"} {}", "text after"), ("{\"a\":\"\\ud800\"}", "unpaired surrogate"),
        ("{\"a\":\"\u{01}\"}", "control character"), ("{\"a\":\"x", "unterminated"), ("{\"a\" 1}", "expected ':'"),
        ("[1,]", "not JSON"), ("\u{FEFF}{}", "not JSON"),
        (String(repeating: "[", count: 17) + String(repeating: "]", count: 17), "nesting too deep"),
    ])
    func outsideTheSubsetIsRefused(text: String, reason: String) {
        #expect {
            try StrictJSON.check(Array(text.utf8))
        } throws: { error in
            (error as? StrictJSONError)?.message.contains(reason) == true
        }
    }

    /// Each edit keeps the canonical content (so the checksum and the MAC still match): only the strict check
    /// tells them apart from the file the writer wrote.
    @Test(arguments: [
        ("\"version\": 1,", "\"version\": 1.0,"), ("\"version\": 1,", "\"version\": 1, \"version\": 1,"),
        ("\"generation\": 1,", "\"generation\": 1e0,"), ("\"keys\": [", "\"device\": null, \"keys\": ["),
    ])
    func aKeyringOutsideTheSubsetIsCorrupt(original: String, replacement: String) throws {
        let (keyring, _) = try KeyringFixtures.populated()
        let file = KeyringFile(path: path)
        try file.create(keyring, credential: credential, kdf: KeyringFixtures.kdf)
        let text = String(decoding: KeyringTestIO.readAll(path), as: UTF8.self)
        #expect(text.contains(original))
        let changed = Array(text.replacing(original, with: replacement, maxReplacements: 1).utf8)
        KeyringTestIO.replace(path, with: changed)
        #expect {
            try file.load(credential: credential)
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .corrupt && error.message.hasPrefix("keyring file is damaged: ")
        }
    }

    @Test func aVerifierBundleWithANullNameIsCorrupt() throws {
        var keyring = Keyring()
        try keyring.newSigningIdentity(scope: TopicScope(parsing: ["s/#"]))
        let bundle = String(decoding: KeyringVerifiers.encode(keyring.exportVerifiers()), as: UTF8.self)
        let nameMember = try #require(bundle.firstRange(of: /"name": "[^"]*",\s*/))
        // The name is optional: a bundle without it is accepted, one with a null name is not.
        var withoutName = bundle
        withoutName.removeSubrange(nameMember)
        #expect(try KeyringVerifiers.decode(Array(withoutName.utf8)).first?.name == nil)
        var withNull = bundle
        withNull.replaceSubrange(nameMember, with: "\"name\": null, ")
        #expect {
            try KeyringVerifiers.decode(Array(withNull.utf8))
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .corrupt && error.message.contains("null")
        }
        let fractional = bundle.replacing("\"version\": 1", with: "\"version\": 1.0", maxReplacements: 1)
        #expect(fractional != bundle)
        #expect { try KeyringVerifiers.decode(Array(fractional.utf8)) } throws: {
            ($0 as! KeyringError).code == .corrupt
        }
    }
}

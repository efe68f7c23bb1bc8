import Testing

@testable import Seal
@testable import SealKeyring

/// Topics and filters are compared as UTF-8 bytes everywhere (Specs/keyring.md §6): Swift's `String ==` treats the
/// NFC and NFD spellings of "café" as equal, MQTT does not.
@Suite struct TopicBytesTests {
    static let nfc = "caf\u{00E9}/u"  // é as one code point
    static let nfd = "cafe\u{0301}/u"  // e + combining acute

    @Test func canonicallyEquivalentFiltersAreDifferentFilters() throws {
        #expect(Self.nfc == Self.nfd)  // what Swift says
        let scope = try TopicScope(parsing: [Self.nfc, Self.nfd])
        #expect(scope.filters.count == 2)
        #expect(try TopicFilter(Self.nfc) != TopicFilter(Self.nfd))
        #expect(Set([try TopicFilter(Self.nfc), try TopicFilter(Self.nfd)]).count == 2)
        // Sorted by bytes: "e" (0x65) before "é" (0xC3 0xA9).
        #expect(scope.filters.map(\.string).map { Array($0.utf8) } == [Array(Self.nfd.utf8), Array(Self.nfc.utf8)])
    }

    @Test func aFilterMatchesOnlyItsOwnSpelling() throws {
        let filter = try TopicFilter("caf\u{00E9}/#")
        #expect(filter.matches(Self.nfc))
        #expect(!filter.matches(Self.nfd))
    }

    @Test func aKeyringWithBothSpellingsLoadsAndKeepsBoth() throws {
        let folder = KeyringTempDir()
        let file = KeyringFile(path: folder.file("k"))
        let credential = try KeyringCredential.generateKeyEncryptionKeyFile(folder.file("kek"))
        var keyring = Keyring()
        let kid = try keyring.addKey(scope: try TopicScope(parsing: ["e\u{0301}/#", "\u{00E9}/#"]))
        try file.create(keyring, credential: credential)
        let loaded = try file.load(credential: credential)
        #expect(loaded.key(kid)?.scope.filters.count == 2)
    }

    /// The snapshot remembers which primary seals on a topic; the memory is keyed by bytes, so the NFD spelling
    /// after the NFC one still gets its own key, in either order and after the memory was cleared.
    @Test func theRememberedPrimaryChoiceIsPerSpelling() throws {
        let (keyring, nfcKey, nfdKey) = try twoSpellingsKeyring()
        let snapshot = KeyringSnapshot(keyring)
        for _ in 0..<2 {
            #expect(try snapshot.primaryKey(for: Self.nfc).kid == nfcKey)
            #expect(try snapshot.primaryKey(for: Self.nfd).kid == nfdKey)
        }
        let other = KeyringSnapshot(keyring)
        #expect(try other.primaryKey(for: Self.nfd).kid == nfdKey)
        #expect(try other.primaryKey(for: Self.nfc).kid == nfcKey)
        // More topics than the memory holds: it is cleared, and the choices stay right.
        for index in 0...KeyringSnapshot.selectionCapacity {
            #expect(throws: KeyringError.self) { try snapshot.primaryKey(for: "elsewhere/\(index)") }
            _ = try snapshot.primaryKey(for: "caf\u{00E9}/\(index)")
        }
        #expect(try snapshot.primaryKey(for: Self.nfd).kid == nfdKey)
        #expect(try snapshot.primaryKey(for: Self.nfc).kid == nfcKey)
        // An invalid topic is refused before and after the memory holds anything.
        #expect(throws: KeyringError.self) { try snapshot.primaryKey(for: "caf\u{00E9}/+") }
    }
}

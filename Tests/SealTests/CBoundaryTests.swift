import Foundation
import Testing

/// The C libraries are reached through one layer: only `Sources/Seal/Crypto/` imports libsodium and libcrypto
/// (the `Sodium` facade, the primitives). The vector generator is the one exception: it swaps libsodium's random
/// source for a deterministic one.
@Suite("C boundary")
struct CBoundaryTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    static func importers(of module: String) throws -> [String] {
        let enumerator = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        var found: [String] = []
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            let imports = text.split(separator: "\n").contains { line in
                let words = line.split(separator: " ")
                return words.contains("import") && words.last.map(String.init) == module
            }
            if imports { found.append(String(url.path.dropFirst(sources.path.count + 1))) }
        }
        return found.sorted()
    }

    @Test func onlySealCryptoImportsTheCLibraries() throws {
        let sodium = try Self.importers(of: "CSodium")
        #expect(!sodium.isEmpty)
        let allowed = ["envelope-vectors/DeterministicRandom.swift"]
        #expect(sodium.filter { !$0.hasPrefix("Seal/Crypto/") && !allowed.contains($0) } == [], "\(sodium)")
        let openssl = try Self.importers(of: "COpenSSL")
        #expect(!openssl.isEmpty)
        #expect(openssl.filter { !$0.hasPrefix("Seal/Crypto/") } == [], "\(openssl)")
    }
}

import Foundation
import Seal
import Testing

/// Specs/vectors/envelope-v1.json: the committed file equals what `envelope-vectors` generates, and every
/// vector opens (or is rejected with its reason class) exactly as it says.
@Suite("Envelope v1 vectors (Specs/vectors/envelope-v1.json)")
struct EnvelopeVectorTests {
    /// The package root: #filePath = <root>/Tests/SealTests/EnvelopeVectorTests.swift.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let file = root.appendingPathComponent("Specs/vectors/envelope-v1.json")

    struct Group {
        var keys: KeySet
        var tests: [[String: Any]]
    }

    struct MissingField: Error, CustomStringConvertible {
        var name: String
        var description: String { "vector field \(name) missing or of the wrong type" }
    }

    /// `dictionary[name]` as a `T`, or a thrown ``MissingField``.
    static func field<T>(_ dictionary: [String: Any], _ name: String) throws -> T {
        guard let value = dictionary[name] as? T else { throw MissingField(name: name) }
        return value
    }

    /// `dictionary[name]` decoded from hex, or a thrown ``MissingField``.
    static func bytes(_ dictionary: [String: Any], _ name: String) throws -> [UInt8] {
        guard let value = hex(try field(dictionary, name) as String) else { throw MissingField(name: name) }
        return value
    }

    static func loadGroup() throws -> Group {
        let data = try Data(contentsOf: file)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let groups: [[String: Any]] = try field(json, "testGroups")
        try #require(groups.count == 1)
        let group = groups[0]
        var keys: [SealKey] = []
        for entry in try field(group, "keys") as [[String: Any]] {
            let suite = try #require(Suite(rawValue: try field(entry, "suite")))
            let id: Int = try field(entry, "kid")
            keys.append(try SealKey(id: UInt32(id), suite: suite, bytes: try bytes(entry, "key")))
        }
        var signers: [VerifyingKey] = []
        for entry in try field(group, "signers") as [[String: Any]] {
            let id: Int = try field(entry, "sid")
            signers.append(try VerifyingKey(id: UInt32(id), rawRepresentation: try bytes(entry, "publicKey")))
        }
        let tests: [[String: Any]] = try field(group, "tests")
        #expect(tests.count == json["numberOfTests"] as? Int)
        return Group(keys: KeySet(keys: keys, signers: signers), tests: tests)
    }

    @Test func committedFileIsWhatTheGeneratorWrites() throws {
        let generator = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("envelope-vectors")
        try #require(
            FileManager.default.isExecutableFile(atPath: generator.path), "build the envelope-vectors product first")
        let process = Process()
        process.executableURL = generator
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let generated = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let committed = try Data(contentsOf: Self.file)
        #expect(
            generated == committed,
            "Specs/vectors/envelope-v1.json is stale: run `swift run envelope-vectors > Specs/vectors/envelope-v1.json`"
        )
    }

    @Test func everyVectorOpensAsSpecified() throws {
        let group = try Self.loadGroup()
        #expect(group.tests.count >= 40)
        for test in group.tests {
            let id = test["tcId"] as? Int ?? -1
            let comment = test["comment"] as? String ?? ""
            let topic: String = try Self.field(test, "topic")
            let context = (test["context"] as? String).flatMap { hex($0) }
            let now = UInt64(try Self.field(test, "now") as Int)
            let window: Int = try Self.field(test, "window")
            let retained: Bool = try Self.field(test, "retained")
            let envelope = try Self.bytes(test, "envelope")
            let result: String = try Self.field(test, "result")
            // Every vector twice: through the array API and into a caller's buffer, each with a fresh reader.
            for intoBuffer in [false, true] {
                let opener = Opener(
                    keys: group.keys, replayGuard: ReplayGuard(policy: ReplayPolicy(window: window), clock: { now }))
                for earlier in try Self.field(test, "before") as [String] {
                    _ = try opener.open(try #require(hex(earlier)), topic: topic, context: context)
                }
                var output = [UInt8](repeating: 0xEE, count: envelope.count)
                do throws(SealError) {
                    let opened: (payload: [UInt8], keyID: UInt32, senderID: UInt32, signer: UInt32?)
                    if intoBuffer {
                        let result = envelope.withUnsafeBytes { bytes in
                            output.withUnsafeMutableBytes { out in
                                Result { () throws(SealError) in
                                    guard let context else {
                                        return try opener.open(bytes, topic: topic, retained: retained, into: out)
                                    }
                                    return try context.withUnsafeBytes { contextBytes in
                                        Result { () throws(SealError) in
                                            try opener.open(
                                                bytes, topic: topic, context: contextBytes, retained: retained,
                                                into: out)
                                        }
                                    }.get()
                                }
                            }
                        }
                        let into = try result.get()
                        opened = (Array(output[..<into.payloadCount]), into.keyID, into.senderID, into.signer)
                    } else {
                        let message = try opener.open(envelope, topic: topic, context: context, retained: retained)
                        opened = (message.payload, message.keyID, message.senderID, message.signer)
                    }
                } catch {
                    #expect(error.code == .rejected, "tcId \(id): every rejection has the one code")
                    #expect(
                        error.reason.description == result, "tcId \(id) (\(comment)): rejected as \(error.reason)")
                    // Nothing of a rejected message stays in the buffer: untouched, or wiped.
                    #expect(output.allSatisfy { $0 == 0xEE || $0 == 0 }, "tcId \(id): plaintext left behind")
                }
            }
        }
    }

    @Test func vectorsCoverEverySuiteModeAndErrorClass() throws {
        let group = try Self.loadGroup()
        let results = Set(group.tests.compactMap { $0["result"] as? String })
        let classes: [SealError.Reason] = [
            .malformed, .unknownKey, .modeNotAllowed, .authenticationFailed, .badSignature, .untrustedSigner,
            .replayed, .outsideWindow, .stale, .future,
        ]
        for reason in classes {
            #expect(results.contains(reason.description), "no vector for \(reason)")
        }
        let validComments = group.tests.filter { $0["result"] as? String == "valid" }.compactMap {
            $0["comment"] as? String
        }
        for mode in [
            "xchacha20poly1305 encrypt:", "xchacha20poly1305 encrypt+sign:", "aes256gcm encrypt:",
            "aes256gcm encrypt+sign:", "hmac-sha256 mac:", "ed25519 sign:",
        ] {
            #expect(validComments.contains { $0.hasPrefix(mode) }, "no valid vector for \(mode)")
        }
    }
}

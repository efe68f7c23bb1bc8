import Foundation
import Seal
import SealFleet
import SealKeyring
import Testing

/// Specs/vectors/fleet-slot-v1.json: every valid slot opens to the snapshot it names, every invalid one is refused
/// with the reason it names, for the committed file and for a freshly generated one (the generator and the reader
/// stay in step).
@Suite struct FleetVectorTests {
    struct File: Decodable {
        struct Device: Decodable {
            var x25519PrivateKey: String
            var x25519PublicKey: String
        }
        struct Test: Decodable {
            var tcId: Int
            var comment: String
            var device: String
            var appliedSequence: UInt64
            var slot: String
            var result: String
            var reason: String?
            var snapshot: String?
        }
        var authorityPublicKey: String
        var devices: [String: Device]
        var numberOfTests: Int
        var tests: [Test]
    }

    static func unhex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            out.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    func check(_ data: Data) throws {
        let file = try JSONDecoder().decode(File.self, from: data)
        #expect(file.tests.count == file.numberOfTests)
        #expect(file.tests.contains { $0.result == "valid" } && file.tests.contains { $0.result == "invalid" })
        let authority = Self.unhex(file.authorityPublicKey)
        for test in file.tests {
            let keys = try #require(file.devices[test.device])
            let device = KeyringDevice(
                id: test.device, recipientPublicKey: Self.unhex(keys.x25519PublicKey),
                recipientSecret: Self.unhex(keys.x25519PrivateKey).withUnsafeBytes { SecureBytes(copying: $0) },
                authorities: [authority], sequence: test.appliedSequence, createdSeconds: 0)
            do {
                let verified = try KeySlot.verify(Self.unhex(test.slot), device: device)
                #expect(test.result == "valid", "tcId \(test.tcId) \(test.comment): accepted")
                #expect(verified.snapshot.encode() == Self.unhex(test.snapshot ?? ""), "tcId \(test.tcId)")
                #expect(verified.isRedelivery == (verified.header.sequence == test.appliedSequence))
            } catch {
                #expect(test.result == "invalid", "tcId \(test.tcId) \(test.comment): \(error)")
                #expect(error.code == .slotRejected)
                #expect(error.rejection?.rawValue == test.reason, "tcId \(test.tcId) \(test.comment): \(error)")
            }
        }
    }

    @Test func theCommittedVectorsHold() throws {
        try check(Data(contentsOf: Self.packageRoot.appendingPathComponent("Specs/vectors/fleet-slot-v1.json")))
    }

    @Test func freshlyGeneratedVectorsHold() throws {
        let generator = Self.packageRoot.appendingPathComponent(".build/debug/fleet-vectors")
        try #require(
            FileManager.default.isExecutableFile(atPath: generator.path), "build the fleet-vectors product first")
        let process = Process()
        process.executableURL = generator
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        try check(data)
    }
}

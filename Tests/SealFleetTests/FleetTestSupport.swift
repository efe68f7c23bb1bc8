import Seal
import SealFleet
import SealKeyring
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A temporary folder for device and authority keyrings, removed at the end of the test.
final class FleetTempDir {
    let url: URL
    var path: String { url.path }

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// An authority and devices in memory and on disk (key-file KEKs: no Argon2id cost).
struct FleetFixture {
    let dir = FleetTempDir()
    let credential: KeyringCredential
    var authority: FleetAuthority
    var devices: [String: FleetDeviceKeyring] = [:]

    init() throws {
        credential = try KeyringCredential.generateKeyEncryptionKeyFile(dir.file("kek"))
        var keyring = Keyring()
        try keyring.newSigningIdentity(name: FleetAuthority.identityName)
        authority = try FleetAuthority(keyring: keyring, registry: FleetRegistry(topics: FleetTopics()))
    }

    var authorityKey: [UInt8] { authority.identity.publicKey }

    /// Creates a device keyring, enrols it with the grants, and returns its request.
    @discardableResult
    mutating func enroll(_ id: String, read: [String] = [], write: [String] = []) throws -> EnrolmentRequest {
        let file = KeyringFile(path: dir.file("\(id).keyring"))
        let request = try FleetDeviceKeyring.create(
            file: file, credential: credential, device: id, authority: authorityKey)
        devices[id] = FleetDeviceKeyring(file: file, credential: credential)
        try authority.enroll(
            EnrolmentRequest.decode(request.encode()), read: read.map { try TopicFilter($0) },
            write: write.map { try TopicFilter($0) })
        return request
    }

    /// Builds the changed slots and applies each to its device, recording the device's ack.
    @discardableResult
    mutating func deliver(all: Bool = false) throws -> [FleetAuthority.Publication] {
        let publications = try authority.publications(all: all)
        for publication in publications where !publication.payload.isEmpty {
            let device = try #require(devices[publication.device])
            _ = try device.apply(publication.payload)
            try authority.record(report: device.report(.ack).payload)
        }
        return publications
    }
}

/// Expects a slot to be refused with this reason.
func expectRejected(
    _ reason: FleetError.SlotRejection, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected the slot to be rejected (\(reason))", sourceLocation: sourceLocation)
    } catch let error as FleetError {
        #expect(error.code == .slotRejected, sourceLocation: sourceLocation)
        #expect(error.rejection == reason, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

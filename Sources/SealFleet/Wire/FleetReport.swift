public import Seal
import SealKeyring

/// A device's signed report to the authority (Specs/fleet.md §6): an **ack** after it applied (or already held) a
/// slot, or a **request** for its slot when it has none or is behind.
///
/// ```
/// "MSR1" | kind (0x01 ack, 0x02 request) | len(device) (1) | device | sequence (8, BE) | Ed25519 signature (64)
/// ```
///
/// `sequence` is the sequence the device holds after processing. The signature, by the device's own key, covers
/// every byte before it, so nobody else can fake coverage.
public struct FleetReport: Sendable, Hashable {
    /// What the device reports.
    public enum Kind: String, Sendable, Hashable {
        /// It applied (or already held) a slot.
        case ack
        /// It asks for its slot.
        case request

        var byte: UInt8 { self == .ack ? 1 : 2 }
    }

    /// What the device reports.
    public let kind: Kind
    /// The device id.
    public let device: String
    /// The sequence the device holds.
    public let sequence: UInt64

    static let magic: [UInt8] = Array("MSR1".utf8)

    /// Creates a report.
    public init(kind: Kind, device: String, sequence: UInt64) {
        self.kind = kind
        self.device = device
        self.sequence = sequence
    }

    var body: [UInt8] {
        var out = Self.magic + [kind.byte]
        let id = Array(device.utf8)
        out.append(UInt8(id.count))
        out += id
        appendBigEndian(sequence, to: &out)
        return out
    }

    /// Signs the report with the device's identity.
    ///
    /// - Throws: ``FleetError`` (`invalidArgument`) when the key cannot sign.
    public func encode(signedBy key: SigningKey) throws(FleetError) -> [UInt8] {
        let body = body
        do {
            return body + (try key.signature(for: body))
        } catch {
            throw FleetError(.invalidArgument, "cannot sign the report")
        }
    }

    /// Parses a report and returns it with its signature, unverified (the authority looks up the device first).
    ///
    /// - Throws: ``FleetError`` (`reportRejected`).
    public static func decode(_ bytes: [UInt8]) throws(FleetError) -> (report: FleetReport, signature: [UInt8]) {
        let bad = FleetError(.reportRejected, "device report is malformed")
        guard bytes.count >= 4 + 1 + 1 + 1 + 8 + 64, bytes.starts(with: magic) else { throw bad }
        let kind: Kind
        switch bytes[4] {
        case 1: kind = .ack
        case 2: kind = .request
        default: throw bad
        }
        let length = Int(bytes[5])
        guard length >= 1, bytes.count == 6 + length + 8 + 64,
            let device = String(validating: bytes[6..<(6 + length)], as: UTF8.self)
        else { throw bad }
        let sequence = readBigEndian(bytes, at: 6 + length, as: UInt64.self)
        return (FleetReport(kind: kind, device: device, sequence: sequence), Array(bytes[(6 + length + 8)...]))
    }

    /// Whether `signature` is the device's signature of this report.
    public func isSigned(by key: VerifyingKey, signature: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: body)
    }
}

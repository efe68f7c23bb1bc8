/// What one measured segment of a benchmark run protects its payloads with.
public enum BenchMode: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// No envelope: the bundled MQTT client publishes and receives the clear payload (the baseline).
    case plaintext
    /// Encrypt with the default suite, XChaCha20-Poly1305 (envelope mode 1).
    case xchacha20poly1305
    /// Encrypt with AES-256-GCM (envelope mode 1).
    case aes256gcm
    /// Encrypt with XChaCha20-Poly1305, then sign with Ed25519 (envelope mode 2).
    case encryptSign = "xchacha20poly1305+ed25519"
    /// HMAC-SHA256 over the clear payload (envelope mode 3).
    case mac = "hmac-sha256"
    /// Ed25519 signature over the clear payload (envelope mode 4).
    case sign = "ed25519"

    /// The envelope overhead in bytes that Specs/envelope.md §2.2 documents for the mode (0 for plaintext).
    public var documentedOverhead: Int {
        switch self {
        case .plaintext: 0
        case .xchacha20poly1305: 41
        case .aes256gcm: 45
        case .encryptSign: 105
        case .mac: 49
        case .sign: 81
        }
    }

    /// Whether the mode carries an Ed25519 signature that the subscriber verifies.
    public var isSigned: Bool { self == .encryptSign || self == .sign }

    /// The mode's name as used on the command line, in tables, JSON and charts.
    public var description: String { rawValue }

    /// Parses a mode name; also accepts the short aliases `plain`, `xchacha`, `aes`, `encrypt+sign`, `mac`, `sign`.
    public init?(name: String) {
        switch name.lowercased() {
        case "plain", "plaintext": self = .plaintext
        case "xchacha", "xchacha20poly1305", "encrypt": self = .xchacha20poly1305
        case "aes", "aes256gcm": self = .aes256gcm
        case "encrypt+sign", "xchacha20poly1305+ed25519", "encryptsign": self = .encryptSign
        case "mac", "hmac", "hmac-sha256": self = .mac
        case "sign", "ed25519": self = .sign
        default: return nil
        }
    }
}

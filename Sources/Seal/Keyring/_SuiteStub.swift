// TEMPORARY until the Seal core lands; removed on rebase.
public enum Suite: String, Sendable, Hashable, CaseIterable {
    case xchacha20poly1305
    case aes256gcm
    case hmacSHA256 = "hmac-sha256"
    case ed25519
}

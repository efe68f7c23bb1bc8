import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain sentences for why a connection failed or broke, instead of BoringSSL or NIO error dumps.
enum ConnectionFailure {
    /// The cause of a TLS handshake failure, in one sentence that names what to check.
    ///
    /// The causes told apart: the server certificate not verified (unknown CA, expired), the host name not in
    /// it, a client certificate required, refused (unknown CA) or expired, and no TLS on the port.
    static func tlsCause(_ error: any Error, host: String) -> String {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "the server certificate does not name \(host) (connect by a name it lists, or use --insecure)"
        }
        let text = "\(error)"
        let causes: [(String, String)] = [
            (
                "CERTIFICATE_VERIFY_FAILED",
                "the server certificate is not trusted (unknown CA, expired or not yet valid)"
            ),
            ("CERTIFICATE_REQUIRED", "the broker requires a client certificate (--cert and --key)"),
            ("ALERT_UNKNOWN_CA", "the broker does not trust the client certificate (unknown CA)"),
            ("ALERT_CERTIFICATE_EXPIRED", "the broker says the client certificate has expired"),
            ("ALERT_BAD_CERTIFICATE", "the broker refused the client certificate"),
            ("ALERT_HANDSHAKE_FAILURE", "the broker refused the handshake (no common TLS version or cipher)"),
            ("ALERT_PROTOCOL_VERSION", "the broker does not accept this TLS version"),
            ("WRONG_VERSION_NUMBER", "the server does not speak TLS on this port"),
            ("NO_CERTIFICATE", "the server sent no certificate"),
        ]
        for (marker, cause) in causes where text.contains(marker) { return cause }
        if let io = error as? IOError { return "the connection broke during the TLS handshake: \(describe(io))" }
        return "the TLS handshake failed"
    }

    /// An I/O error as the C library words it ("Connection reset by peer"), without NIO's call names.
    static func describe(_ error: IOError) -> String {
        String(cString: strerror(error.errnoCode))
    }

    /// Any connect failure in one plain sentence: an I/O error as above, a local address that is not an IP address.
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            // bind(2) failed: the -A / localAddress is not one of this host's addresses.
            if io.errnoCode == EADDRNOTAVAIL { return "the local address cannot be used here (\(describe(io)))" }
            return describe(io)
        }
        if let happy = error as? NIOConnectionError {
            if let first = happy.connectionErrors.first { return describe(first.error) }
            if happy.dnsAError != nil || happy.dnsAAAAError != nil { return "the host name cannot be resolved" }
            return "no address to connect to"
        }
        if let address = error as? SocketAddressError, case .failedToParseIPString(let text) = address {
            return "the local address '\(text)' is not an IP address"
        }
        if error is SocketAddressError.UnknownHost { return "the host name cannot be resolved" }
        if error is SocketAddressError { return "the address cannot be used" }
        return "\(error)"
    }

    /// Whether a failure during a TLS handshake means the peer is not a TLS server (it reset or closed).
    static func isPlainPeerDuringHandshake(_ error: any Error) -> Bool {
        guard let io = error as? IOError else { return false }
        return io.errnoCode == ECONNRESET || io.errnoCode == EPIPE
    }
}

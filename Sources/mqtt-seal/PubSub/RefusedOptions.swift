import ArgumentParser

/// mosquitto_pub/sub flags that `pub` and `sub` cannot honour: each is refused with its reason (exit 64) instead of
/// ArgumentParser's "unknown option", so that a script moved over from mosquitto learns what to change.
struct RefusedOptions: ParsableArguments {
    @Option(help: .hidden) var psk: String?
    @Option(help: .hidden) var pskIdentity: String?
    @Option(help: .hidden) var ciphers: String?
    @Option(help: .hidden) var proxy: String?
    @Option(help: .hidden) var tlsEngine: String?
    @Option(help: .hidden) var tlsEngineKpassSha1: String?
    @Option(help: .hidden) var keyform: String?
    @Option(help: .hidden) var tlsAlpn: String?

    /// The first refused flag given, with its reason.
    func check() throws(CLIFailure) {
        let reasons: [(String, Bool, String)] = [
            (
                "--psk", psk != nil,
                "TLS-PSK is not available (the TLS library, NIOSSL, offers certificates only): use --cafile, "
                    + "and --cert/--key for a client identity"
            ),
            ("--psk-identity", pskIdentity != nil, "TLS-PSK is not available (see --psk)"),
            (
                "--ciphers", ciphers != nil,
                "the cipher list is fixed to NIOSSL's defaults (TLS 1.2 with forward secrecy, and TLS 1.3); "
                    + "--tls-version tlsv1.3 narrows it"
            ),
            ("--proxy", proxy != nil, "SOCKS proxies are not supported: connect directly, or through a tunnel"),
            ("--tls-engine", tlsEngine != nil, "OpenSSL engines are not supported: keys are read from PEM files"),
            (
                "--tls-engine-kpass-sha1", tlsEngineKpassSha1 != nil,
                "OpenSSL engines are not supported: keys are read from PEM files"
            ),
            ("--keyform", keyform != nil, "--key is read as PEM only; convert others with openssl pkey"),
            ("--tls-alpn", tlsAlpn != nil, "ALPN is not supported: use a port that speaks MQTT directly"),
        ]
        for (flag, given, reason) in reasons where given {
            throw CLIFailure(.usage, "\(flag) is not supported: \(reason)")
        }
    }
}

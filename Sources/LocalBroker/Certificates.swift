import Foundation

extension LocalBroker {
    /// PEM files made with the `openssl` CLI for one broker: EC P-256, valid for two days.
    ///
    /// The server certificate names `DNS:localhost,IP:127.0.0.1`. The "wrong" files exist for
    /// negative tests: an unrelated CA, a client certificate signed by it, and a server
    /// certificate (served on ``LocalBroker/mismatchedHostPort``) whose only name is `wrong.invalid`.
    public struct Certificates: Sendable, Hashable {
        /// The folder that holds the files.
        public let folder: String
        /// The CA certificate that signed the server and client certificates.
        public var caFile: String { folder + "/ca.crt" }
        /// The server certificate (SAN `DNS:localhost,IP:127.0.0.1`).
        public var serverCert: String { folder + "/server.crt" }
        /// The server's private key.
        public var serverKey: String { folder + "/server.key" }
        /// A client certificate signed by ``caFile`` (CN `client`).
        public var clientCert: String { folder + "/client.crt" }
        /// The client's private key.
        public var clientKey: String { folder + "/client.key" }
        /// An unrelated CA: trusting only it must make TLS to the broker fail.
        public var wrongCAFile: String { folder + "/wrong-ca.crt" }
        /// A client certificate signed by ``wrongCAFile``: mTLS must refuse it.
        public var wrongClientCert: String { folder + "/wrong-client.crt" }
        /// The key of ``wrongClientCert``.
        public var wrongClientKey: String { folder + "/wrong-client.key" }
        /// A server certificate signed by ``caFile`` whose only name is `wrong.invalid`.
        public var mismatchedServerCert: String { folder + "/mismatch.crt" }
        /// The key of ``mismatchedServerCert``.
        public var mismatchedServerKey: String { folder + "/mismatch.key" }

        /// Makes all certificates in `folder` with the `openssl` CLI.
        static func make(in folder: String) async throws -> Certificates {
            let openssl = try findExecutable("openssl")
            let certificates = Certificates(folder: folder)
            let ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            for (name, subject) in [("ca", "/CN=LocalBroker Test CA"), ("wrong-ca", "/CN=LocalBroker Wrong CA")] {
                _ = try await runTool(
                    openssl,
                    ["req", "-x509"] + ecKey + [
                        "-keyout", "\(folder)/\(name).key", "-out", "\(folder)/\(name).crt", "-days", "2",
                        "-subj", subject,
                    ],
                    in: folder)
            }
            let leaves: [(name: String, cn: String, ca: String, extensions: String)] = [
                (
                    "server", "localhost", "ca",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
                ),
                ("client", "client", "ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
                ("wrong-client", "client", "wrong-ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
                (
                    "mismatch", "wrong.invalid", "ca",
                    "subjectAltName=DNS:wrong.invalid\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
                ),
            ]
            for (index, leaf) in leaves.enumerated() {
                let extensionsFile = "\(folder)/\(leaf.name).ext"
                try write(leaf.extensions, to: extensionsFile)
                _ = try await runTool(
                    openssl,
                    ["req", "-new"] + ecKey + [
                        "-keyout", "\(folder)/\(leaf.name).key", "-out", "\(folder)/\(leaf.name).csr",
                        "-subj", "/CN=\(leaf.cn)",
                    ],
                    in: folder)
                _ = try await runTool(
                    openssl,
                    [
                        "x509", "-req", "-in", "\(folder)/\(leaf.name).csr", "-CA", "\(folder)/\(leaf.ca).crt",
                        "-CAkey", "\(folder)/\(leaf.ca).key", "-set_serial", "\(1000 + index)",
                        "-out", "\(folder)/\(leaf.name).crt", "-days", "2", "-extfile", extensionsFile,
                    ],
                    in: folder)
            }
            // mosquitto started as root drops to user `mosquitto` before it reads these.
            let names = try FileManager.default.contentsOfDirectory(atPath: folder)
            for name in names where name.hasSuffix(".crt") || name.hasSuffix(".key") {
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: folder + "/" + name)
            }
            return certificates
        }
    }
}

/// Writes a text file with mode 0644.
func write(_ text: String, to path: String) throws {
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    } catch {
        throw LocalBrokerError(.fileSystem, "cannot write \(path): \(error)")
    }
}

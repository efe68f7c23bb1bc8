// Micro benchmarks of the envelope: every suite and mode at several payload sizes, each next to the raw
// libsodium / OpenSSL call it wraps, in the same run. `Scripts/bench-seal` runs them and prints the
// seal-to-raw ratios that README.md reports.
import Benchmark
import RawCrypto
import Seal

/// Payload sizes of every benchmark, in bytes.
let payloadSizes = [16, 64, 256, 1024, 16384]

/// The concrete topic every envelope is bound to (its length shapes the AAD, as in real traffic).
let topic = "plant/line-4/press-17/telemetry"

/// What one run needs: keys, sealers, openers, and buffers for the raw calls.
struct Fixture: @unchecked Sendable {
    let xchacha: SealKey
    let aes: SealKey
    let hmac: SealKey
    let signer: SigningKey
    let rawKey: [UInt8]
    let rawSecretKey: [UInt8]
    let rawPublicKey: [UInt8]
    let rawAES: RawAES256GCM
    let rawHMAC: RawHMACSHA256

    init() throws {
        rawKey = (0..<32).map { UInt8($0) }
        xchacha = try SealKey(id: 1, suite: .xchacha20poly1305, bytes: rawKey)
        aes = try SealKey(id: 2, suite: .aes256gcm, bytes: rawKey)
        hmac = try SealKey(id: 3, suite: .hmacSHA256, bytes: rawKey)
        let seed = [UInt8](repeating: 7, count: 32)
        signer = try SigningKey(id: 4, seed: seed)
        var publicKey = [UInt8](repeating: 0, count: 32)
        var secretKey = [UInt8](repeating: 0, count: 64)
        seed.withUnsafeBytes { seedBytes in
            publicKey.withUnsafeMutableBytes { pk in
                secretKey.withUnsafeMutableBytes { sk in
                    _ = RawCrypto.ed25519KeyPair(seed: seedBytes, publicKey: pk, secretKey: sk)
                }
            }
        }
        rawPublicKey = publicKey
        rawSecretKey = secretKey
        rawAES = rawKey.withUnsafeBytes { RawAES256GCM(key: $0)! }
        rawHMAC = rawKey.withUnsafeBytes { RawHMACSHA256(key: $0)! }
    }

    /// A sealer and a fresh opener for one suite/mode.
    func pair(_ mode: String) throws -> (Sealer, Opener) {
        let keys = KeySet(keys: [xchacha, aes, hmac], signers: [signer.verifyingKey])
        let sealer: Sealer
        switch mode {
        case "xchacha20poly1305 encrypt": sealer = try Sealer(key: xchacha)
        case "xchacha20poly1305 encrypt+sign": sealer = try Sealer(key: xchacha, signingKey: signer)
        case "aes256gcm encrypt": sealer = try Sealer(key: aes)
        case "aes256gcm encrypt+sign": sealer = try Sealer(key: aes, signingKey: signer)
        case "hmac-sha256 mac": sealer = try Sealer(key: hmac)
        default: sealer = try Sealer(signingKey: signer)
        }
        let policy = ReplayPolicy(window: 1 << 20)
        return (sealer, Opener(keys: keys, replayGuard: ReplayGuard(policy: policy)))
    }
}

/// The AAD the envelope builds for `topic` without context: 17-byte header, u16 length, topic, u32 length.
let aadLength = 17 + 2 + topic.utf8.count + 4

let modes = [
    "xchacha20poly1305 encrypt", "xchacha20poly1305 encrypt+sign", "aes256gcm encrypt", "aes256gcm encrypt+sign",
    "hmac-sha256 mac", "ed25519 sign",
]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )
    let fixture = try! Fixture()
    let aad = [UInt8](repeating: 0xA5, count: aadLength)
    let nonce = [UInt8](repeating: 0x11, count: 24)

    for size in payloadSizes {
        let payload = [UInt8](repeating: 0x42, count: size)
        var output = [UInt8](repeating: 0, count: size + 64)
        let signed = [UInt8](repeating: 0x42, count: size + 41)

        // MARK: raw baselines (output buffer preallocated, fixed nonce: the bare C call)
        Benchmark("raw xchacha20poly1305 encrypt/\(size)") { benchmark in
            for _ in benchmark.scaledIterations {
                payload.withUnsafeBytes { message in
                    aad.withUnsafeBytes { aadBytes in
                        nonce.withUnsafeBytes { nonceBytes in
                            fixture.rawKey.withUnsafeBytes { key in
                                output.withUnsafeMutableBytes { out in
                                    blackHole(
                                        RawCrypto.xchacha20poly1305Encrypt(
                                            output: out, message: message, aad: aadBytes, nonce: nonceBytes, key: key))
                                }
                            }
                        }
                    }
                }
            }
        }
        Benchmark("raw aes256gcm encrypt/\(size)") { benchmark in
            for _ in benchmark.scaledIterations {
                payload.withUnsafeBytes { message in
                    aad.withUnsafeBytes { aadBytes in
                        nonce.withUnsafeBytes { nonceBytes in
                            output.withUnsafeMutableBytes { out in
                                blackHole(
                                    fixture.rawAES.encrypt(
                                        output: out, message: message, aad: aadBytes,
                                        iv: UnsafeRawBufferPointer(rebasing: nonceBytes[0..<12])))
                            }
                        }
                    }
                }
            }
        }
        Benchmark("raw hmac-sha256/\(size)") { benchmark in
            for _ in benchmark.scaledIterations {
                payload.withUnsafeBytes { message in
                    output.withUnsafeMutableBytes { out in
                        blackHole(fixture.rawHMAC.authenticate(output: out, message: message))
                    }
                }
            }
        }
        Benchmark("raw ed25519 sign/\(size)", configuration: .init(scalingFactor: .one)) { benchmark in
            for _ in benchmark.scaledIterations {
                signed.withUnsafeBytes { message in
                    fixture.rawSecretKey.withUnsafeBytes { sk in
                        output.withUnsafeMutableBytes { out in
                            blackHole(RawCrypto.ed25519Sign(signature: out, message: message, secretKey: sk))
                        }
                    }
                }
            }
        }
        var signature = [UInt8](repeating: 0, count: 64)
        signed.withUnsafeBytes { message in
            fixture.rawSecretKey.withUnsafeBytes { sk in
                signature.withUnsafeMutableBytes { out in
                    _ = RawCrypto.ed25519Sign(signature: out, message: message, secretKey: sk)
                }
            }
        }
        Benchmark("raw ed25519 verify/\(size)", configuration: .init(scalingFactor: .one)) { benchmark in
            for _ in benchmark.scaledIterations {
                signed.withUnsafeBytes { message in
                    signature.withUnsafeBytes { sig in
                        fixture.rawPublicKey.withUnsafeBytes { pk in
                            blackHole(RawCrypto.ed25519Verify(signature: sig, message: message, publicKey: pk))
                        }
                    }
                }
            }
        }

        // MARK: the envelope, every suite and mode
        for mode in modes {
            let scaling: BenchmarkScalingFactor = mode.contains("sign") ? .one : .kilo
            Benchmark("seal \(mode)/\(size)", configuration: .init(scalingFactor: scaling)) { benchmark in
                let (sealer, _) = try fixture.pair(mode)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    blackHole(try sealer.seal(payload, topic: topic))
                }
            }
            Benchmark("seal into \(mode)/\(size)", configuration: .init(scalingFactor: scaling)) { benchmark in
                // Into a caller's buffer, as the raw calls write: no allocation (SealedMQTT seals this way, straight
                // into the outgoing ByteBuffer).
                let (sealer, _) = try fixture.pair(mode)
                var envelope = [UInt8](repeating: 0, count: size + sealer.overhead)
                benchmark.startMeasurement()
                try payload.withUnsafeBytes { message in
                    try envelope.withUnsafeMutableBytes { out in
                        for _ in benchmark.scaledIterations {
                            blackHole(try sealer.seal(message, topic: topic, into: out))
                        }
                    }
                }
            }
            Benchmark("open \(mode)/\(size)", configuration: .init(scalingFactor: scaling)) { benchmark in
                // Fresh envelopes for every iteration, sealed before the measurement starts: the opener's
                // replay guard rejects a second open of the same envelope.
                let (sealer, opener) = try fixture.pair(mode)
                let envelopes = try benchmark.scaledIterations.map { _ in try sealer.seal(payload, topic: topic) }
                benchmark.startMeasurement()
                for envelope in envelopes {
                    blackHole(try opener.open(envelope, topic: topic))
                }
            }
        }
    }
}

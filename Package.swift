// swift-tools-version: 6.1
//
// swift-mqtt-seal: end-to-end payload protection for MQTT.
// Layering (see Specs/ and DESIGN): C shims -> Seal -> SealKeyring -> SealFleet -> SealedMQTT <- MQTT;
// CLI and SealBench on top.

import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-mqtt-seal",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Seal", targets: ["Seal"]),
        .library(name: "SealKeyring", targets: ["SealKeyring"]),
        .library(name: "SealFleet", targets: ["SealFleet"]),
        .library(name: "MQTT", targets: ["MQTT"]),
        .library(name: "SealedMQTT", targets: ["SealedMQTT"]),
        .library(name: "SealLite", targets: ["SealLite"]),
        .library(name: "SealBench", targets: ["SealBench"]),
        .library(name: "LocalBroker", targets: ["LocalBroker"]),
        .executable(name: "mqtt-seal", targets: ["mqtt-seal"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // HPKE (RFC 9180) for fleet key slots.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        // DocC: `Scripts/build-docs.sh` (swift package generate-documentation).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // MARK: C boundary: system libraries only, nothing else.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),

        // MARK: Libraries
        // SealLite: the envelope in C99 for constrained senders (no heap, caller-owned buffers). Its own
        // SHA-256/HMAC; the AEAD and Ed25519 modes through the libsodium backend (backend_sodium.c).
        // Standalone C tests, footprint and fuzzing: Scripts/seallite-test, seallite-footprint, fuzz-seallite.
        // CSodium only for libsodium's pkg-config include path (Homebrew); the C code includes <sodium.h>.
        .target(
            name: "SealLite",
            dependencies: ["CSodium"],
            linkerSettings: [.linkedLibrary("sodium")]
        ),
        // The one topic-filter implementation: MQTT routing, the keyring ACL, the sealed policy, fleet grants.
        .target(
            name: "TopicFilters",
            dependencies: [],
            swiftSettings: strict
        ),
        .target(
            name: "Seal",
            dependencies: ["CSodium", "COpenSSL"],
            swiftSettings: strict
        ),
        .target(
            name: "SealKeyring",
            dependencies: ["Seal", "TopicFilters"],
            swiftSettings: strict
        ),
        .target(
            name: "SealFleet",
            dependencies: ["Seal", "SealKeyring", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "MQTT",
            dependencies: [
                "TopicFilters",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SealedMQTT",
            dependencies: [
                "Seal", "SealKeyring", "SealFleet", "MQTT",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LocalBroker",
            dependencies: [],
            swiftSettings: strict
        ),
        // The harness's open-loop pacer sets its thread's timer slack (prctl is variadic, so not callable from Swift).
        .target(name: "CPacer"),
        .target(
            name: "SealBench",
            dependencies: [
                "SealedMQTT", "MQTT", "Seal", "SealKeyring", "LocalBroker", "CPacer",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "mqtt-seal",
            dependencies: [
                "Seal", "SealKeyring", "SealFleet", "MQTT", "SealedMQTT", "SealBench", "LocalBroker", "TopicFilters",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),

        // Generates Specs/vectors/envelope-v1.json deterministically (see Specs/envelope.md).
        .executableTarget(
            name: "envelope-vectors",
            dependencies: ["Seal", "CSodium"],
            swiftSettings: strict
        ),

        // Generates Specs/vectors/fleet-slot-v1.json (see Specs/fleet.md).
        .executableTarget(
            name: "fleet-vectors",
            dependencies: ["Seal", "SealKeyring", "SealFleet", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),

        // MARK: Tests (one target per module; broker tests start a real mosquitto)
        .testTarget(
            name: "SealTests",
            dependencies: ["Seal", "CSodium", "COpenSSL", "envelope-vectors"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SealLiteTests",
            dependencies: ["SealLite", "Seal"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SealKeyringTests",
            dependencies: ["SealKeyring", "Seal", "CSodium"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SealFleetTests",
            dependencies: ["SealFleet", "SealKeyring", "Seal", "fleet-vectors"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MQTTTests",
            dependencies: [
                "MQTT", "LocalBroker", "TopicFilters",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LocalBrokerTests",
            dependencies: ["LocalBroker"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SealedMQTTTests",
            dependencies: [
                "SealedMQTT", "Seal", "SealKeyring", "SealFleet", "MQTT", "LocalBroker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SealBenchTests",
            dependencies: ["SealBench"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MQTTSealCLITests",
            dependencies: ["mqtt-seal", "LocalBroker", "Seal", "SealKeyring", "SealFleet"],
            swiftSettings: strict
        ),

        // MARK: Micro benchmarks (package-benchmark): `swift package benchmark`
        // The bare C calls the benchmarks compare Seal with; not a product, so it never ships.
        .target(
            name: "RawCrypto",
            dependencies: ["CSodium", "COpenSSL"],
            path: "Benchmarks/RawCrypto",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "SealBenchmarks",
            dependencies: [
                "Seal", "RawCrypto",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/SealBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Seal against the raw call, finely interleaved in one process: `Scripts/bench-seal-interleaved`
        .executableTarget(
            name: "SealInterleaved",
            dependencies: ["Seal", "RawCrypto"],
            path: "Benchmarks/SealInterleaved",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // How costs grow with senders, filters and keys: `Scripts/bench-scale`
        .executableTarget(
            name: "SealScale",
            dependencies: ["Seal", "SealKeyring", "MQTT"],
            path: "Benchmarks/SealScale",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

// swift-tools-version: 6.1
//
// libFuzzer entry points, kept out of the main package because they only link with `-sanitize=fuzzer`.
// SwiftPM renames an executable's `main`, so each target's `main.swift` hands control to libFuzzer through
// `LLVMFuzzerRunDriver` (declared by the CFuzzer target). Build and run them with
// `Scripts/fuzz-envelope SECONDS` and `Scripts/fuzz-mqtt SECONDS`.

import PackageDescription

let package = Package(
    name: "swift-mqtt-seal-fuzz",
    dependencies: [
        .package(name: "swift-mqtt-seal", path: "..")
    ],
    targets: [
        .target(name: "CFuzzer"),
        .executableTarget(
            name: "FuzzEnvelope",
            dependencies: ["CFuzzer", .product(name: "Seal", package: "swift-mqtt-seal")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "FuzzMQTT",
            dependencies: ["CFuzzer", .product(name: "MQTT", package: "swift-mqtt-seal")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

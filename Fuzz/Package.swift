// swift-tools-version: 6.1
//
// libFuzzer entry points, kept out of the main package because they only link with
// `-sanitize=fuzzer` (libFuzzer supplies `main`). Build and run them with
// `Scripts/fuzz-envelope SECONDS` and `Scripts/fuzz-mqtt SECONDS`.

import PackageDescription

let package = Package(
    name: "swift-mqtt-seal-fuzz",
    dependencies: [
        .package(name: "swift-mqtt-seal", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "FuzzEnvelope",
            dependencies: [.product(name: "Seal", package: "swift-mqtt-seal")],
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzMQTT",
            dependencies: [.product(name: "MQTT", package: "swift-mqtt-seal")],
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]
        ),
    ]
)

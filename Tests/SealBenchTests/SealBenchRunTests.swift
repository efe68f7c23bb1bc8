import Foundation
import SealBench
import Testing

/// A tiny real run against a mosquitto that the runner starts itself (LocalBroker): structure, not speed.
/// No timing or performance assertions here.
@Suite("SealBench end to end", .serialized)
struct SealBenchRunTests {
    /// One run shared by the structural tests (all modes, QoS 1, a few hundred messages per mode).
    static let run = Task { () throws -> BenchResult in
        let configuration = BenchConfiguration(
            modes: BenchMode.allCases, qos: 1, sizes: [64], publishers: 1, subscribers: 1, topicsPerPublisher: 4,
            load: .maximum(window: 200), stop: .count(300), warmupCount: 50, rounds: 2, verifyScaling: true,
            verifyScalingCount: 300, topicPrefix: "sealbench-test", drainTimeout: .seconds(5))
        return try await BenchRunner(configuration: configuration).run()
    }

    @Test func everyModeIsPresentAndComplete() async throws {
        let result = try await Self.run.value
        #expect(result.complete)
        #expect(result.error == nil)
        #expect(result.modes.map(\.mode) == BenchMode.allCases)
        for entry in result.modes {
            #expect(entry.complete, "\(entry.key)")
            #expect(entry.qos == 1)
            #expect(entry.payloadBytes == 64)
            #expect(entry.sent == 300, "\(entry.key)")
            #expect(entry.expected == 300, "\(entry.key)")
            #expect(entry.latencyMicroseconds.count == entry.delivered, "\(entry.key)")
        }
    }

    @Test func nothingIsLostDuplicatedOrRejected() async throws {
        let result = try await Self.run.value
        for entry in result.modes {
            #expect(entry.delivered == 300, "\(entry.key)")
            #expect(entry.lost == 0, "\(entry.key)")
            #expect(entry.duplicates == 0, "\(entry.key)")
            #expect(entry.verificationFailures == 0, "\(entry.key)")
        }
        let scaling = try #require(result.verifyScaling)
        #expect(scaling.lostOrRejected == 0)
        #expect(scaling.count == 300)
        #expect(scaling.mode == .sign)
    }

    /// The signed ceiling comes from costs measured in the same run, and each signed mode is reported against it.
    @Test func signedModesAreReportedAgainstTheCeilingOfTheSameRun() async throws {
        let result = try await Self.run.value
        let ceiling = try #require(result.signedCeiling)
        let plain = try #require(result.modes.first { $0.mode == .plaintext })
        #expect(ceiling.signMicroseconds > 0 && ceiling.verifyMicroseconds > 0)
        #expect(ceiling.plaintextClientMicroseconds == plain.cpuMicrosecondsPerMessage)
        #expect(ceiling.cores == result.environment.cores)
        let perMessage =
            ceiling.signMicroseconds + ceiling.verifyMicroseconds + ceiling.plaintextClientMicroseconds
            + ceiling.brokerMicroseconds
        #expect(abs(ceiling.messagesPerSecond - Double(ceiling.cores) * 1e6 / perMessage) < 1e-6)
        for entry in result.modes {
            if entry.mode.isSigned {
                let ratio = try #require(entry.ceilingRatio, "\(entry.key)")
                #expect(abs(ratio - entry.messagesPerSecond / ceiling.messagesPerSecond) < 1e-9)
            } else {
                #expect(entry.ceilingRatio == nil, "\(entry.key)")
            }
        }
        #expect(BenchReport.table(result).contains("signed ceiling"))
    }

    /// Open loop reports the pacer's own lateness for every measured message; closed loop has none.
    @Test func openLoopReportsThePacersLateness() async throws {
        let configuration = BenchConfiguration(
            modes: [.plaintext], qos: 0, sizes: [64], load: .rate(2_000), stop: .count(400), warmupCount: 20,
            topicPrefix: "sealbench-pacer", drainTimeout: .seconds(5))
        let result = try await BenchRunner(configuration: configuration).run()
        let entry = try #require(result.modes.first)
        let lateness = try #require(entry.pacerLatenessMicroseconds)
        #expect(lateness.count == entry.sent)
        #expect(lateness.p50 >= 1 && lateness.p99 >= lateness.p50)
        #expect(BenchReport.table(result).contains("pacer lateness"))
        // QoS 0 paces on the timer thread, whose spinning is reported apart from the CPU per message.
        let spin = try #require(entry.pacerSpinMicrosecondsPerMessage)
        #expect(spin >= 0 && spin <= 1e6 / 2_000)
        #expect(try await Self.run.value.modes.allSatisfy { $0.pacerLatenessMicroseconds == nil })
        #expect(try await Self.run.value.modes.allSatisfy { $0.pacerSpinMicrosecondsPerMessage == nil })
    }

    @Test func overheadMatchesTheEnvelopeSpecification() async throws {
        // Specs/envelope.md §2.2: xchacha n+41, aes n+45, +64 signed, mac n+49, sign-only n+81.
        let expected: [BenchMode: Int] = [
            .plaintext: 0, .xchacha20poly1305: 41, .aes256gcm: 45, .encryptSign: 105, .mac: 49, .sign: 81,
        ]
        let result = try await Self.run.value
        for entry in result.modes {
            #expect(entry.overheadBytes == expected[entry.mode], "\(entry.key)")
            #expect(entry.overheadBytes == entry.mode.documentedOverhead)
            #expect(entry.envelopeBytes == entry.payloadBytes + entry.overheadBytes)
        }
    }

    @Test func ratiosAreRelativeToPlaintext() async throws {
        let result = try await Self.run.value
        let plain = try #require(result.modes.first { $0.mode == .plaintext })
        #expect(plain.throughputRatioToPlaintext == 1)
        for entry in result.modes {
            #expect(entry.throughputRatioToPlaintext != nil, "\(entry.key)")
        }
    }

    @Test func jsonHasEveryRequiredKeyOfTheSchema() async throws {
        let result = try await Self.run.value
        let data = try BenchReport.json(result)
        let document = try JSONSerialization.jsonObject(with: data)
        let schemaURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Specs/bench-result.schema.json")
        let schema = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: schemaURL)) as? [String: Any])
        var missing: [String] = []
        SchemaCheck(root: schema).check(document, against: schema, path: "$", missing: &missing)
        #expect(missing.isEmpty, "missing or mistyped: \(missing)")
        // And it round-trips.
        #expect(try BenchReport.decode(data) == result)
    }

    @Test func svgNamesEveryMode() async throws {
        let result = try await Self.run.value
        let svg = BenchReport.svg(result)
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("</svg>"))
        for mode in BenchMode.allCases { #expect(svg.contains(">\(mode.rawValue)<"), "\(mode)") }
        #expect(svg.components(separatedBy: "<text").count == svg.components(separatedBy: "</text>").count)
        #expect(!svg.contains("nan") && !svg.contains("inf"))
    }

    @Test func tableAndCSVHaveOneRowPerSegment() async throws {
        let result = try await Self.run.value
        let table = BenchReport.table(result)
        for mode in BenchMode.allCases { #expect(table.contains(mode.rawValue)) }
        #expect(table.contains("verify scaling"))
        let csv = BenchReport.csv(result).split(separator: "\n")
        #expect(csv.first == "second,mode,size,sent,delivered,p99_us")
        #expect(csv.count == result.series.count + 1)
    }

    @Test func comparingAResultWithItselfFindsNoRegression() async throws {
        let result = try await Self.run.value
        let comparison = BenchComparison(baseline: result, candidate: result, threshold: 0.1)
        #expect(!comparison.hasRegression)
        #expect(comparison.rows.count == result.modes.count)
        #expect(comparison.rows.allSatisfy { $0.throughputRatio == 1 && !$0.regressed })
    }

    @Test func aRegressedCopyFailsTheComparison() async throws {
        let result = try await Self.run.value
        var slower = result
        slower.modes[1].messagesPerSecond *= 0.8
        let comparison = BenchComparison(baseline: result, candidate: slower, threshold: 0.1)
        #expect(comparison.hasRegression)
        #expect(comparison.rows.filter(\.regressed).map(\.key) == [result.modes[1].key])
        var laggier = result
        laggier.modes[0].latencyMicroseconds.p99 = result.modes[0].latencyMicroseconds.p99 * 1.5 + 1
        #expect(BenchComparison(baseline: result, candidate: laggier).hasRegression)
        var fewer = result
        fewer.modes.removeLast()
        #expect(BenchComparison(baseline: result, candidate: fewer).hasRegression)
        // Within the threshold is not a regression.
        var slightly = result
        slightly.modes[1].messagesPerSecond *= 0.95
        #expect(!BenchComparison(baseline: result, candidate: slightly, threshold: 0.1).hasRegression)
    }
}

/// Checks a JSON value against the `required` keys and the basic `type`s of a JSON Schema (with local `$ref`s).
struct SchemaCheck {
    let root: [String: Any]

    func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let reference = schema["$ref"] as? String, reference.hasPrefix("#/$defs/"),
            let definitions = root["$defs"] as? [String: Any],
            let target = definitions[String(reference.dropFirst("#/$defs/".count))] as? [String: Any]
        else { return schema }
        return target
    }

    func check(_ value: Any, against rawSchema: [String: Any], path: String, missing: inout [String]) {
        let schema = resolve(rawSchema)
        if let type = schema["type"] as? String {
            switch type {
            case "object":
                guard let object = value as? [String: Any] else {
                    missing.append("\(path) (not an object)")
                    return
                }
                for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                    missing.append("\(path).\(key)")
                }
                let properties = schema["properties"] as? [String: Any] ?? [:]
                for (key, child) in object {
                    guard let childSchema = properties[key] as? [String: Any] else {
                        missing.append("\(path).\(key) (not in the schema)")
                        continue
                    }
                    check(child, against: childSchema, path: "\(path).\(key)", missing: &missing)
                }
            case "array":
                guard let array = value as? [Any] else {
                    missing.append("\(path) (not an array)")
                    return
                }
                if let items = schema["items"] as? [String: Any] {
                    for (index, item) in array.enumerated() {
                        check(item, against: items, path: "\(path)[\(index)]", missing: &missing)
                    }
                }
            case "string":
                if !(value is String) { missing.append("\(path) (not a string)") }
            case "integer", "number", "boolean":
                if !(value is NSNumber) { missing.append("\(path) (not a \(type))") }
            default:
                break
            }
        }
        if let options = schema["enum"] as? [Any] {
            let matches = options.contains { option in
                if let text = option as? String { return (value as? String) == text }
                if let number = option as? NSNumber { return (value as? NSNumber) == number }
                return false
            }
            if !matches { missing.append("\(path) (not one of the enum values)") }
        }
    }
}

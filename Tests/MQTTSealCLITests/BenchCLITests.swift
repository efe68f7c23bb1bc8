import Foundation
import LocalBroker
import Testing

/// `mqtt-seal bench`: usage errors before any load, a broker lost mid-run, and `bench compare` exit codes.
/// No timing or performance assertions.
@Suite("mqtt-seal bench", .serialized)
struct BenchCLITests {
    @Test(arguments: [
        (["bench", "--rate", "1000", "--max"], "--rate and --max exclude each other"),
        (["bench", "--count", "10", "--duration", "1"], "--count and --duration exclude each other"),
        (["bench", "--sizes", "0"], "payload size 0 is outside"),
        (["bench", "--sizes", "64,x"], "is not a number"),
        (["bench", "--qos", "3"], "QoS must be 0, 1 or 2"),
        (["bench", "--modes", "plaintext,rot13"], "unknown mode 'rot13'"),
        (["bench", "--port", "1884"], "need --host"),
        (["bench", "run", "--count", "0"], "the count must be between"),
        (["bench", "--duration", "0"], "--duration must be more than 0"),
        (["bench", "--publishers", "0"], "publishers must be between"),
    ])
    func invalidOptionsAreUsageErrors(arguments: [String], message: String) throws {
        let result = try CLIRunner.run(arguments, timeout: .seconds(30))
        #expect(result.status == 64, "stderr: \(result.err)")
        #expect(result.err.contains(message), "stderr: \(result.err)")
        #expect(result.out.isEmpty, "nothing may run: \(result.out)")
    }

    @Test func helpListsRunAndCompare() throws {
        let result = try CLIRunner.run(["bench", "--help"])
        #expect(result.status == 0)
        #expect(result.out.contains("run"))
        #expect(result.out.contains("compare"))
        let run = try CLIRunner.run(["bench", "run", "--help"])
        #expect(run.out.contains("--rate"))
        #expect(run.out.contains("--json"))
    }

    @Test func anUnreachableBrokerExits74BeforeAnyLoad() throws {
        let result = try CLIRunner.run(
            ["bench", "--host", "127.0.0.1", "--port", "1", "--count", "10"], timeout: .seconds(60))
        #expect(result.status == 74, "stderr: \(result.err)")
        #expect(result.err.hasPrefix("mqtt-seal: bench: cannot connect to 127.0.0.1:1"))
        #expect(result.err.split(separator: "\n").count == 1, "stderr: \(result.err)")
    }

    @Test func aBrokerLostMidRunEndsWithExit74AndAPartialReport() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stopNow() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-lost-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = folder.appendingPathComponent("partial.json").path
        let arguments = [
            "bench", "--host", broker.host, "--port", "\(broker.plainPort)", "--modes", "plaintext,xchacha",
            "--rate", "2000", "--duration", "30", "--warmup", "10", "--json", json, "--quiet",
        ]
        let run = Task.detached { try CLIRunner.run(arguments, timeout: .seconds(60)) }
        try await Task.sleep(for: .seconds(3))
        await broker.kill()
        let result = try await run.value
        #expect(result.status == 74, "stderr: \(result.err)")
        let lines = result.err.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.err)")
        #expect(lines.first?.hasPrefix("mqtt-seal: bench: plaintext:") == true, "stderr: \(result.err)")
        #expect(result.out.contains("INCOMPLETE"))
        let data = try Data(contentsOf: URL(fileURLWithPath: json))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["complete"] as? Bool == false)
        #expect(object["error"] is String)
        let modes = try #require(object["modes"] as? [[String: Any]])
        #expect(modes.count == 1)
        #expect(modes.first?["complete"] as? Bool == false)
    }

    @Test func compareExitsZeroForIdenticalFilesAndOneForARegression() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-cmp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let baseline = folder.appendingPathComponent("a.json").path
        let run = try CLIRunner.run(
            ["bench", "--modes", "plaintext,xchacha", "--count", "200", "--json", baseline, "--quiet"],
            timeout: .seconds(120))
        #expect(run.status == 0, "stderr: \(run.err)")

        let same = try CLIRunner.run(["bench", "compare", baseline, baseline])
        #expect(same.status == 0, "stderr: \(same.err)")
        #expect(same.out.contains("plaintext@64"))
        #expect(same.out.contains("no regression"))

        // A copy whose xchacha throughput halved.
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: baseline))) as? [String: Any])
        var modes = try #require(object["modes"] as? [[String: Any]])
        let rate = try #require(modes[1]["messagesPerSecond"] as? Double)
        modes[1]["messagesPerSecond"] = rate / 2
        object["modes"] = modes
        let regressed = folder.appendingPathComponent("b.json").path
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: regressed))
        let worse = try CLIRunner.run(["bench", "compare", baseline, regressed, "--threshold", "0.1"])
        #expect(worse.status == 1, "stderr: \(worse.err)")
        #expect(worse.out.contains("REGRESSED"))
        #expect(worse.err.contains("regression past the threshold"))

        let missing = try CLIRunner.run(["bench", "compare", baseline, folder.appendingPathComponent("no.json").path])
        #expect(missing.status == 66)
        let garbage = folder.appendingPathComponent("garbage.json")
        try Data("{}".utf8).write(to: garbage)
        #expect(try CLIRunner.run(["bench", "compare", baseline, garbage.path]).status == 65)
    }
}

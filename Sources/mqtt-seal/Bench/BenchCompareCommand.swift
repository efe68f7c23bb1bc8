import ArgumentParser
import Foundation
import SealBench

/// `mqtt-seal bench compare A.json B.json`: per-segment ratios, non-zero exit on a regression.
struct BenchCompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two bench --json results (baseline first) and fail on a regression.",
        discussion: """
            For every segment (mode@size) of the baseline prints the candidate/baseline throughput and p99 \
            ratios. A segment regresses when its throughput falls by more than --threshold, or its p99 rises by \
            more than --threshold, or it is missing from the candidate.

            Exit status: 0 no regression; 1 at least one regression; 64 invalid options; 65 a file is not a \
            bench result; 66 a file does not exist.
            """
    )

    @Argument(help: "The baseline result (bench --json).")
    var baseline: String

    @Argument(help: "The candidate result.")
    var candidate: String

    @Option(help: "Relative threshold, for example 0.1 for 10 %.")
    var threshold: Double = 0.1

    func validate() throws {
        guard threshold.isFinite, threshold >= 0, threshold < 10 else {
            throw ValidationError("--threshold must be between 0 and 10")
        }
    }

    func run() async throws {
        try await runReportingFailures {
            let comparison = BenchComparison(
                baseline: try load(baseline), candidate: try load(candidate), threshold: threshold)
            print(comparison.table, terminator: "")
            if comparison.hasRegression {
                throw CLIFailure(.authenticationFailure, "bench compare: regression past the threshold")
            }
        }
    }

    func load(_ path: String) throws -> BenchResult {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIFailure(.noInput, "bench compare: \(path) does not exist")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure(.ioError, "bench compare: cannot read \(path)")
        }
        do {
            return try BenchReport.decode(data)
        } catch {
            throw CLIFailure(.dataError, "bench compare: \(path) is not a bench result: \(error)")
        }
    }
}

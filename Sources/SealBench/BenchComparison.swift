/// The comparison of two result files, segment by segment (`mode@size`).
public struct BenchComparison: Sendable {
    /// One segment present in both files.
    public struct Row: Sendable, Hashable {
        /// `mode@size`.
        public var key: String
        /// Baseline throughput, msg/s.
        public var baselineThroughput: Double
        /// Candidate throughput, msg/s.
        public var candidateThroughput: Double
        /// Candidate / baseline throughput (above 1 is better).
        public var throughputRatio: Double
        /// Baseline p99, microseconds.
        public var baselineP99: Double
        /// Candidate p99, microseconds.
        public var candidateP99: Double
        /// Candidate / baseline p99 (below 1 is better).
        public var p99Ratio: Double
        /// Whether the throughput fell, or the p99 rose, by more than the threshold.
        public var regressed: Bool
    }

    /// The segments in both files, in the baseline's order.
    public var rows: [Row]
    /// Segments of the baseline missing from the candidate.
    public var missing: [String]
    /// The relative threshold (0.1 = 10 %).
    public var threshold: Double

    /// Whether any segment regressed past the threshold (or a baseline segment is missing).
    public var hasRegression: Bool { rows.contains(where: \.regressed) || !missing.isEmpty }

    /// Compares `candidate` against `baseline`: a segment regresses when its throughput ratio is below
    /// `1 - threshold` or its p99 ratio above `1 + threshold`.
    public init(baseline: BenchResult, candidate: BenchResult, threshold: Double = 0.1) {
        self.threshold = threshold
        var rows: [Row] = []
        var missing: [String] = []
        for old in baseline.modes {
            guard let new = candidate.modes.first(where: { $0.key == old.key && $0.qos == old.qos }) else {
                missing.append(old.key)
                continue
            }
            let throughput = old.messagesPerSecond > 0 ? new.messagesPerSecond / old.messagesPerSecond : 1
            let oldP99 = old.latencyMicroseconds.p99
            let newP99 = new.latencyMicroseconds.p99
            let p99 = oldP99 > 0 ? newP99 / oldP99 : (newP99 > 0 ? .infinity : 1)
            rows.append(
                Row(
                    key: old.key, baselineThroughput: old.messagesPerSecond, candidateThroughput: new.messagesPerSecond,
                    throughputRatio: throughput, baselineP99: oldP99, candidateP99: newP99, p99Ratio: p99,
                    regressed: throughput < 1 - threshold || p99 > 1 + threshold))
        }
        self.rows = rows
        self.missing = missing
    }

    /// A text table of the ratios, one line per segment, then a verdict line.
    public var table: String {
        var lines = ["segment  throughput (base -> new, ratio)  p99 us (base -> new, ratio)  verdict"]
        for row in rows {
            lines.append(
                "\(row.key)  \(BenchReport.format(row.baselineThroughput, 0)) -> "
                    + "\(BenchReport.format(row.candidateThroughput, 0)) (\(BenchReport.format(row.throughputRatio, 3))x)  "
                    + "\(BenchReport.format(row.baselineP99, 0)) -> \(BenchReport.format(row.candidateP99, 0)) "
                    + "(\(BenchReport.format(row.p99Ratio, 3))x)  \(row.regressed ? "REGRESSED" : "ok")")
        }
        for key in missing { lines.append("\(key)  missing from the candidate  REGRESSED") }
        lines.append(
            hasRegression
                ? "regression past \(BenchReport.format(threshold * 100, 1)) %"
                : "no regression past \(BenchReport.format(threshold * 100, 1)) %")
        return lines.joined(separator: "\n") + "\n"
    }
}

public import Foundation

/// Renderings of a ``BenchResult``: a text table, JSON, CSV and an SVG chart.
public enum BenchReport {
    /// A fixed-width table of every segment, then the verify-scaling line.
    public static func table(_ result: BenchResult) -> String {
        let header = [
            "mode", "size", "qos", "msg/s", "MB/s", "x plain", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us",
            "lost", "dup", "reord", "fail", "cpu us/msg", "overhead",
        ]
        var rows = [header]
        for entry in result.modes {
            let latency = entry.latencyMicroseconds
            rows.append([
                entry.mode.rawValue, "\(entry.payloadBytes)", "\(entry.qos)", format(entry.messagesPerSecond, 0),
                format(entry.megabytesPerSecond, 2), entry.throughputRatioToPlaintext.map { format($0, 2) } ?? "-",
                format(latency.p50, 0), format(latency.p90, 0), format(latency.p99, 0), format(latency.p999, 0),
                format(latency.max, 0), "\(entry.lost)", "\(entry.duplicates)", "\(entry.reordered)",
                "\(entry.verificationFailures)", format(entry.cpuMicrosecondsPerMessage, 2),
                "\(entry.overheadBytes)" + (entry.complete ? "" : " (partial)"),
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { column, cell in
                column == 0
                    ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0) : pad(cell, widths[column])
            }.joined(separator: "  ")
        }
        lines.insert(String(repeating: "-", count: lines[0].count), at: 1)
        let paced = result.modes.compactMap { entry in entry.pacerLatenessMicroseconds.map { (entry, $0) } }
        if !paced.isEmpty {
            lines.append("")
            lines.append(
                "pacer lateness after the intended send time (p50 / p99 / p99.9 us, included in the latencies): "
                    + paced.map { entry, late in
                        "\(entry.mode.rawValue)@\(entry.payloadBytes) \(format(late.p50, 0)) / \(format(late.p99, 0)) / "
                            + format(late.p999, 0)
                    }.joined(separator: ", "))
        }
        if let ceiling = result.signedCeiling {
            let ratios = result.modes.compactMap { entry in
                entry.ceilingRatio.map { "\(entry.mode.rawValue)@\(entry.payloadBytes) \(format($0, 2))x" }
            }
            lines.append("")
            lines.append(
                "signed ceiling \(format(ceiling.messagesPerSecond, 0)) msg/s = \(ceiling.cores) cores / (sign "
                    + "\(format(ceiling.signMicroseconds, 1)) + verify \(format(ceiling.verifyMicroseconds, 1)) + client "
                    + "\(format(ceiling.plaintextClientMicroseconds, 1)) + broker \(format(ceiling.brokerMicroseconds, 1)) us); "
                    + ratios.joined(separator: ", ") + " of it (target \(format(ceiling.target, 1))x)")
        }
        if let scaling = result.verifyScaling {
            lines.append("")
            lines.append(
                "verify scaling (\(scaling.mode.rawValue), \(scaling.payloadBytes) B, \(scaling.count) msgs): "
                    + "1 worker \(format(scaling.oneWorkerMessagesPerSecond, 0)) msg/s, 2 workers "
                    + "\(format(scaling.twoWorkersMessagesPerSecond, 0)) msg/s, ratio \(format(scaling.ratio, 2))x "
                    + "(target \(format(scaling.target, 1))x: \(scaling.ratio >= scaling.target ? "met" : "not met"))")
        }
        let environment = result.environment
        lines.append("")
        lines.append(
            "\(environment.cpuModel), \(environment.cores) cores, load \(environment.loadAverage.map { format($0, 2) } ?? "?"), "
                + "\(environment.build) build; \(environment.mosquittoVersion)")
        if !result.complete { lines.append("INCOMPLETE: \(result.error ?? "the run ended early")") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The result as pretty-printed JSON with sorted keys (Specs/bench-result.schema.json).
    public static func json(_ result: BenchResult) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(result)
    }

    /// Decodes a result file.
    public static func decode(_ data: Data) throws -> BenchResult {
        try JSONDecoder().decode(BenchResult.self, from: data)
    }

    /// The per-second series: `second,mode,size,sent,delivered,p99_us`.
    public static func csv(_ result: BenchResult) -> String {
        var lines = ["second,mode,size,sent,delivered,p99_us"]
        for point in result.series {
            lines.append(
                "\(point.second),\(point.mode.rawValue),\(point.payloadBytes),\(point.sent),\(point.delivered),"
                    + (point.p99Microseconds.map { format($0, 0) } ?? ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// An SVG chart: delivered throughput per segment (bars) and its latency percentiles (p50, p90, p99, p99.9 on a
    /// logarithmic axis), written as plain SVG text.
    public static func svg(_ result: BenchResult) -> String {
        let entries = result.modes
        let width = 960.0
        let left = 90.0
        let right = 30.0
        let plotWidth = width - left - right
        let barTop = 70.0
        let barHeight = 220.0
        let latencyTop = barTop + barHeight + 110
        let latencyHeight = 220.0
        let height = latencyTop + latencyHeight + 90
        let slot = plotWidth / Double(Swift.max(entries.count, 1))
        let maxRate = Swift.max(entries.map(\.messagesPerSecond).max() ?? 1, 1)
        let colors = [
            "plaintext": "#7f7f7f", "xchacha20poly1305": "#1f77b4", "aes256gcm": "#2ca02c",
            "xchacha20poly1305+ed25519": "#9467bd", "hmac-sha256": "#ff7f0e", "ed25519": "#d62728",
        ]
        var svg: [String] = []
        svg.append(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
                + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">")
        svg.append("<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>")
        let configuration = result.configuration
        let title =
            "SealBench: QoS \(configuration.qos), \(configuration.publishers) pub / \(configuration.subscribers) sub, "
            + (configuration.load == "rate"
                ? "rate \(format(configuration.targetRate ?? 0, 0)) msg/s" : "max throughput")
        svg.append(
            "<text x=\"\(Int(width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">\(escape(title))</text>")
        svg.append(
            "<text x=\"\(Int(width / 2))\" y=\"42\" text-anchor=\"middle\" fill=\"#555\">"
                + escape(
                    "\(result.environment.cpuModel), \(result.environment.cores) cores, \(result.environment.build); "
                        + "\(result.startedAt)" + (result.complete ? "" : " (INCOMPLETE)")) + "</text>")

        // Throughput bars.
        svg.append("<text x=\"\(Int(left))\" y=\"\(Int(barTop - 8))\" font-size=\"14\">Delivered msg/s</text>")
        for step in 0...4 {
            let value = maxRate * Double(step) / 4
            let y = barTop + barHeight - barHeight * Double(step) / 4
            svg.append(line(left, y, left + plotWidth, y, "#ddd"))
            svg.append(text(left - 6, y + 4, compact(value), anchor: "end"))
        }
        for (index, entry) in entries.enumerated() {
            let color = colors[entry.mode.rawValue] ?? "#333"
            let barWidth = slot * 0.6
            let x = left + slot * Double(index) + (slot - barWidth) / 2
            let h = barHeight * entry.messagesPerSecond / maxRate
            svg.append(
                "<rect x=\"\(f(x))\" y=\"\(f(barTop + barHeight - h))\" width=\"\(f(barWidth))\" height=\"\(f(h))\" "
                    + "fill=\"\(color)\"><title>\(escape(entry.key)): \(format(entry.messagesPerSecond, 0)) msg/s"
                    + "</title></rect>")
            svg.append(
                text(x + barWidth / 2, barTop + barHeight - h - 4, compact(entry.messagesPerSecond), anchor: "middle"))
            svg.append(text(x + barWidth / 2, barTop + barHeight + 16, entry.mode.rawValue, anchor: "middle", size: 10))
            svg.append(
                text(x + barWidth / 2, barTop + barHeight + 30, "\(entry.payloadBytes) B", anchor: "middle", size: 10))
        }
        svg.append(line(left, barTop + barHeight, left + plotWidth, barTop + barHeight, "#333"))

        // Latency percentiles, log scale.
        let percentiles: [(String, KeyPath<BenchLatency, Double>, String)] = [
            ("p50", \.p50, "#9ecae1"), ("p90", \.p90, "#4292c6"), ("p99", \.p99, "#08519c"),
            ("p99.9", \.p999, "#08306b"),
        ]
        let values = entries.flatMap { entry in percentiles.map { entry.latencyMicroseconds[keyPath: $0.1] } }
        let low = 1.0
        let high = Swift.max(values.max() ?? 10, 10)
        let decades = Swift.max(ceil(log10(high)), 1)
        func y(_ value: Double) -> Double {
            latencyTop + latencyHeight - latencyHeight * log10(Swift.max(value, low)) / decades
        }
        svg.append(
            "<text x=\"\(Int(left))\" y=\"\(Int(latencyTop - 8))\" font-size=\"14\">Latency, microseconds (log scale)</text>"
        )
        for decade in 0...Int(decades) {
            let value = pow(10, Double(decade))
            svg.append(line(left, y(value), left + plotWidth, y(value), "#ddd"))
            svg.append(text(left - 6, y(value) + 4, compact(value), anchor: "end"))
        }
        for (index, entry) in entries.enumerated() {
            let groupWidth = slot * 0.7
            let barWidth = groupWidth / Double(percentiles.count)
            let x0 = left + slot * Double(index) + (slot - groupWidth) / 2
            for (offset, percentile) in percentiles.enumerated() {
                let value = entry.latencyMicroseconds[keyPath: percentile.1]
                let top = y(value)
                svg.append(
                    "<rect x=\"\(f(x0 + barWidth * Double(offset)))\" y=\"\(f(top))\" width=\"\(f(barWidth * 0.9))\" "
                        + "height=\"\(f(latencyTop + latencyHeight - top))\" fill=\"\(percentile.2)\"><title>"
                        + "\(escape(entry.key)) \(percentile.0): \(format(value, 0)) us</title></rect>")
            }
            svg.append(
                text(
                    x0 + groupWidth / 2, latencyTop + latencyHeight + 16, entry.mode.rawValue, anchor: "middle",
                    size: 10))
            svg.append(
                text(
                    x0 + groupWidth / 2, latencyTop + latencyHeight + 30, "\(entry.payloadBytes) B", anchor: "middle",
                    size: 10))
        }
        svg.append(line(left, latencyTop + latencyHeight, left + plotWidth, latencyTop + latencyHeight, "#333"))
        for (offset, percentile) in percentiles.enumerated() {
            let x = left + Double(offset) * 90
            let legendY = latencyTop + latencyHeight + 52
            svg.append(
                "<rect x=\"\(f(x))\" y=\"\(f(legendY - 10))\" width=\"12\" height=\"12\" fill=\"\(percentile.2)\"/>")
            svg.append(text(x + 16, legendY, percentile.0, anchor: "start"))
        }
        if let scaling = result.verifyScaling {
            svg.append(
                text(
                    left, height - 14,
                    "verify scaling (\(scaling.mode.rawValue)): 1 worker \(compact(scaling.oneWorkerMessagesPerSecond)) "
                        + "msg/s, 2 workers \(compact(scaling.twoWorkersMessagesPerSecond)) msg/s = "
                        + "\(format(scaling.ratio, 2))x (target \(format(scaling.target, 1))x)", anchor: "start"))
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ color: String) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(color)\"/>"
    }

    static func text(_ x: Double, _ y: Double, _ content: String, anchor: String, size: Int = 12) -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\">\(escape(content))</text>"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func format(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    static func compact(_ value: Double) -> String {
        if value >= 1_000_000 { return format(value / 1_000_000, 1) + "M" }
        if value >= 1000 { return format(value / 1000, value >= 10_000 ? 0 : 1) + "k" }
        return format(value, 0)
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

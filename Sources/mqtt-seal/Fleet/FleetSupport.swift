import ArgumentParser
import Foundation
import MQTT
import SealFleet
import SealKeyring

/// The option every fleet and device command shares: the topic prefix.
struct FleetPrefixOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The fleet's topic prefix.", valueName: "prefix"))
    var prefix: String = FleetTopics.defaultPrefix

    /// The validated topics.
    func topics() throws(CLIFailure) -> FleetTopics {
        do {
            return try FleetTopics(prefix: prefix)
        } catch {
            throw CLIFailure(fleetError: error)
        }
    }
}

extension CLIFailure {
    /// A fleet error as one line and its exit code (README "Exit codes").
    init(fleetError error: FleetError) {
        switch error.code {
        case .keyring:
            self.init(keyringError: error.keyringError!, invalidArgument: .dataError)
        case .invalidArgument:
            self.init(.usage, error.message)
        case .slotRejected, .reportRejected:
            self.init(.authenticationFailure, error.message)
        default:
            self.init(.dataError, error.message)
        }
    }
}

enum FleetArgument {
    /// Topic filters from repeated `--read` / `--write` options.
    static func filters(_ texts: [String], flag: String) throws(CLIFailure) -> [TopicFilter] {
        var out: [TopicFilter] = []
        for text in texts {
            do {
                out.append(try TopicFilter(text))
            } catch {
                throw CLIFailure(.usage, "\(flag): \(error.message)")
            }
        }
        return out
    }

    /// A duration such as `90s`, `15m`, `24h`, `7d` or a number of seconds.
    static func duration(_ text: String, flag: String) throws(CLIFailure) -> Duration {
        let units: [(Character, Int64)] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var digits = Substring(text)
        var factor: Int64 = 1
        if let last = digits.last, let unit = units.first(where: { $0.0 == last }) {
            factor = unit.1
            digits = digits.dropLast()
        }
        guard let value = Int64(digits), value >= 0, value <= 10 * 365 * 86_400 / factor else {
            throw CLIFailure(.usage, "\(flag) needs a duration such as 90s, 15m, 24h or 7d, got \(text)")
        }
        return .seconds(value * factor)
    }

    /// A percentage 0...100.
    static func percent(_ text: String, flag: String) throws(CLIFailure) -> Double {
        let trimmed = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let value = Double(trimmed), value >= 0, value <= 100 else {
            throw CLIFailure(.usage, "\(flag) needs a percentage from 0 to 100, got \(text)")
        }
        return value
    }

    /// A base64 Ed25519 public key (as `fleet init` prints it).
    static func publicKey(_ text: String, flag: String) throws(CLIFailure) -> [UInt8] {
        guard let data = Data(base64Encoded: text), data.count == 32 else {
            throw CLIFailure(.usage, "\(flag) needs the authority's public key as printed by fleet init (base64)")
        }
        return Array(data)
    }
}

import ArgumentParser
import Foundation
import Seal
import SealKeyring

/// `mqtt-seal keys list`: the keyring's metadata as a table or JSON. Never prints secret material.
struct KeysList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List keys, own signing identities and trusted signers (never secrets)."
    )

    @OptionGroup var options: KeyringOptions

    @Flag(help: "Print JSON (stable field names, see README) instead of a table.")
    var json = false

    func run() async throws {
        try await runReportingFailures {
            let keyring = try options.load()
            let listing = KeyringListing(keyring)
            if json {
                try JSONListing.write(listing)
            } else {
                print(listing.table(), terminator: "")
            }
        }
    }
}

/// What `keys list` shows: public metadata only.
struct KeyringListing: Encodable, Sendable {
    struct Key: Encodable, Sendable {
        var kid: String
        var suite: String
        var state: String
        var created: String
        var notAfter: String?
        var topics: [String]
    }

    struct Identity: Encodable, Sendable {
        var sid: String
        var name: String
        var created: String
        var topics: [String]
        var publicKey: String
    }

    struct Signer: Encodable, Sendable {
        var sid: String
        var name: String?
        var state: String
        var topics: [String]
        var publicKey: String
    }

    var generation: UInt64
    var keys: [Key]
    var identities: [Identity]
    var signers: [Signer]
    /// Scopes with usable keys but no primary (nothing seals there).
    var scopesWithoutPrimary: [[String]]

    init(_ keyring: Keyring) {
        generation = keyring.generation
        keys = keyring.keys.map {
            Key(
                kid: KeyringID.format($0.kid), suite: $0.suite.rawValue, state: $0.state.rawValue,
                created: KeyringTime.format($0.created), notAfter: $0.notAfter.map(KeyringTime.format),
                topics: $0.scope.filters.map(\.string))
        }
        identities = keyring.identities.map {
            Identity(
                sid: KeyringID.format($0.sid), name: $0.name, created: KeyringTime.format($0.created),
                topics: $0.scope.filters.map(\.string), publicKey: Data($0.publicKey).base64EncodedString())
        }
        signers = keyring.signers.map {
            Signer(
                sid: KeyringID.format($0.sid), name: $0.name, state: $0.state.rawValue,
                topics: $0.scope.filters.map(\.string), publicKey: Data($0.publicKey).base64EncodedString())
        }
        scopesWithoutPrimary = keyring.scopesWithoutPrimary.map { $0.filters.map(\.string) }
    }

    /// The human-readable form: one table per kind of entry.
    func table() -> String {
        var out = ""
        out += renderTable(
            header: ["KID", "SUITE", "STATE", "CREATED", "NOT-AFTER", "TOPICS"],
            rows: keys.map {
                [$0.kid, $0.suite, $0.state, $0.created, $0.notAfter ?? "-", $0.topics.joined(separator: ",")]
            },
            empty: "no keys (keys add, then keys promote)")
        out += "\n"
        out += renderTable(
            header: ["SID", "IDENTITY", "CREATED", "TOPICS"],
            rows: identities.map { [$0.sid, $0.name, $0.created, $0.topics.joined(separator: ",")] },
            empty: "no own signing identities (keys new-signer NAME)")
        out += "\n"
        out += renderTable(
            header: ["SID", "SIGNER", "STATE", "TOPICS"],
            rows: signers.map { [$0.sid, $0.name ?? "-", $0.state, $0.topics.joined(separator: ",")] },
            empty: "no trusted signers (keys import-signer FILE)")
        for scope in scopesWithoutPrimary {
            out += "\nwarning: topics [\(scope.joined(separator: ","))] have keys but no primary: nothing seals there\n"
        }
        return out
    }

    private func renderTable(header: [String], rows: [[String]], empty: String) -> String {
        guard !rows.isEmpty else { return empty + "\n" }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                let isLast = index == cells.count - 1
                text += isLast ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
            }
            return text + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}

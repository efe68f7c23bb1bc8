import Foundation

/// `--json` on the listing commands (`keys list`, `fleet list`, `fleet status`, `device status`): the value as
/// pretty-printed JSON with sorted keys, on stdout, in one write.
enum JSONListing {
    static func write(_ value: some Encodable) throws(CLIFailure) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            throw CLIFailure(.ioError, "cannot encode the listing as JSON")
        }
        try writeStandardOutput(Array(data) + [UInt8(ascii: "\n")])
    }
}

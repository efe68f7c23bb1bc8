import Foundation
import Testing

/// Finds the third-party vectors: `SEAL_VECTORS_DIR`, else `../shared/vectors` beside the package root.
enum Vectors {
    static var directory: URL? {
        if let path = ProcessInfo.processInfo.environment["SEAL_VECTORS_DIR"], !path.isEmpty {
            return URL(fileURLWithPath: path, isDirectory: true)
        }
        // #filePath = <root>/Tests/SealTests/VectorSupport.swift
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/vectors", isDirectory: true)
    }

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Loads `relativePath` as JSON. A missing file is a recorded failure under CI=true; otherwise the
    /// caller gets nil and must say so (the test then checks nothing it could not find).
    static func load(_ relativePath: String, sourceLocation: SourceLocation = #_sourceLocation) -> Any? {
        load(relativePath, from: directory, ci: isCI, sourceLocation: sourceLocation)
    }

    /// `load` with the folder and the CI flag given explicitly (testable without touching the environment).
    static func load(
        _ relativePath: String, from directory: URL?, ci: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Any? {
        guard let directory else { return nil }
        let url = directory.appendingPathComponent(relativePath)
        guard let data = try? Data(contentsOf: url) else {
            if ci {
                Issue.record("vectors missing at \(url.path) (CI=true)", sourceLocation: sourceLocation)
            } else {
                print("note: vectors not found at \(url.path); set SEAL_VECTORS_DIR to run this test")
            }
            return nil
        }
        do {
            return try JSONSerialization.jsonObject(with: data)
        } catch {
            Issue.record("cannot parse \(url.path): \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// The Wycheproof test groups of `file`.
    static func wycheproofGroups(
        _ file: String, sourceLocation: SourceLocation = #_sourceLocation
    )
        -> [[String: Any]]?
    {
        guard let json = load("wycheproof/" + file, sourceLocation: sourceLocation) as? [String: Any] else {
            return nil
        }
        guard let groups = json["testGroups"] as? [[String: Any]] else {
            Issue.record("\(file): no testGroups", sourceLocation: sourceLocation)
            return nil
        }
        return groups
    }
}

/// Hex decoding for vectors. Records an issue and returns nil on bad hex.
func hex(_ string: String?, sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8]? {
    guard let string else {
        Issue.record("missing hex field", sourceLocation: sourceLocation)
        return nil
    }
    let chars = Array(string.utf8)
    guard chars.count % 2 == 0 else {
        Issue.record("odd hex length", sourceLocation: sourceLocation)
        return nil
    }
    var out: [UInt8] = []
    out.reserveCapacity(chars.count / 2)
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    var index = 0
    while index < chars.count {
        guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else {
            Issue.record("bad hex digit", sourceLocation: sourceLocation)
            return nil
        }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}

/// Counts of vectors a conformance test checked, so a test can assert it checked something.
struct VectorTally {
    var valid = 0
    var invalid = 0
    var acceptable = 0
}

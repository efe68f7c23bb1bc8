#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The header every benchmark payload starts with (inside the sealed plaintext), big-endian:
/// publisher (u16), lane (u16, the publisher's topic index), sequence number (u64, per publisher and lane, from 0),
/// send time (u64, monotonic nanoseconds of this process: the intended send time in open-loop mode). The rest of the
/// payload is filler bytes.
public enum BenchPayload {
    /// Bytes of the header.
    public static let headerSize = 20

    /// The header fields.
    public struct Header: Sendable, Hashable {
        /// Publisher index.
        public var publisher: Int
        /// Lane (topic index within the publisher).
        public var lane: Int
        /// Sequence number within the (publisher, lane) stream.
        public var sequence: UInt64
        /// Send time, monotonic nanoseconds.
        public var sentNanoseconds: UInt64

        /// Creates a header.
        public init(publisher: Int, lane: Int, sequence: UInt64, sentNanoseconds: UInt64) {
            self.publisher = publisher
            self.lane = lane
            self.sequence = sequence
            self.sentNanoseconds = sentNanoseconds
        }
    }

    /// Builds a payload of `size` bytes (at least ``headerSize``).
    public static func make(size: Int, header: Header) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x5A, count: Swift.max(size, headerSize))
        write(header, into: &bytes)
        return bytes
    }

    /// Overwrites the header of an existing payload buffer (reuses its filler).
    public static func write(_ header: Header, into bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt16(truncatingIfNeeded: header.publisher).bigEndian, toByteOffset: 0, as: UInt16.self)
            raw.storeBytes(of: UInt16(truncatingIfNeeded: header.lane).bigEndian, toByteOffset: 2, as: UInt16.self)
            raw.storeBytes(of: header.sequence.bigEndian, toByteOffset: 4, as: UInt64.self)
            raw.storeBytes(of: header.sentNanoseconds.bigEndian, toByteOffset: 12, as: UInt64.self)
        }
    }

    /// Reads the header, or nil when the payload is too short.
    public static func read(_ bytes: UnsafeRawBufferPointer) -> Header? {
        guard bytes.count >= headerSize else { return nil }
        let publisher = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
        let lane = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let sequence = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
        let sent = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
        return Header(publisher: Int(publisher), lane: Int(lane), sequence: sequence, sentNanoseconds: sent)
    }
}

/// Monotonic time and process CPU time.
enum BenchClock {
    /// Monotonic nanoseconds.
    @inline(__always)
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// User + system CPU time of this process in microseconds (getrusage).
    static func processCPUMicroseconds() -> UInt64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = UInt64(usage.ru_utime.tv_sec) * 1_000_000 + UInt64(usage.ru_utime.tv_usec)
        let system = UInt64(usage.ru_stime.tv_sec) * 1_000_000 + UInt64(usage.ru_stime.tv_usec)
        return user + system
    }

    /// User + system CPU time of another process in microseconds, from /proc/<pid>/stat (Linux), or nil.
    static func cpuMicroseconds(ofProcess pid: Int32) -> UInt64? {
        guard let text = readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)); here index 0 is field 3.
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        let ticks = UInt64(Swift.max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return (user + system) * 1_000_000 / ticks
    }

    /// Reads a small text file, or nil.
    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 4096, file) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

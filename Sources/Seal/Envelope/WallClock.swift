#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The wall clock used for sequence numbers and freshness: Unix time in milliseconds.
///
/// ``Sealer`` and ``ReplayGuard`` take a clock closure so that tests can inject time; this is the default.
public enum WallClock {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    ///
    /// On Linux this reads `CLOCK_REALTIME_COARSE`: the time of the last scheduler tick (1–4 ms old),
    /// read from the vDSO in a few nanoseconds instead of about 30 ns for a `CLOCK_REALTIME` read on a
    /// virtual machine. Every use of the clock (sequence numbers, freshness windows of seconds) tolerates
    /// a tick of resolution.
    @Sendable
    public static func milliseconds() -> UInt64 {
        var now = timespec()
        #if os(Linux)
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        #else
        clock_gettime(CLOCK_REALTIME, &now)
        #endif
        return UInt64(max(now.tv_sec, 0)) &* 1000 &+ UInt64(max(now.tv_nsec, 0) / 1_000_000)
    }
}

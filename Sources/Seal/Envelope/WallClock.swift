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
    /// Milliseconds since 1970-01-01T00:00:00Z (`CLOCK_REALTIME`).
    @Sendable
    public static func milliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(max(now.tv_sec, 0)) &* 1000 &+ UInt64(max(now.tv_nsec, 0) / 1_000_000)
    }
}

import CPacer
import Histogram

#if canImport(Glibc)
import Glibc
#endif

/// Publishes one payload without suspending (QoS 0); false when the connection pushed back.
typealias ImmediateSendFunction = @Sendable (_ lane: Int, _ index: Int, _ payload: [UInt8]) throws -> Bool

/// One publisher as the pacer drives it.
struct ImmediatePublisher: Sendable {
    /// Hands a message to the publisher's connection.
    let send: ImmediateSendFunction
    /// Whether the connection takes the next message without pushing back.
    let ready: @Sendable () -> Bool
}

/// Open-loop pacing at QoS 0 on one dedicated thread for all publishers.
///
/// Message `g` of the segment is due at `start + g / rate` and goes to publisher `g % publishers`: the publishers
/// interleave evenly instead of all sending at the same instants. The thread sleeps with `clock_nanosleep` to an
/// absolute time a little before the due time (its timer slack set to 1 ns, where Linux's default of 50 µs would
/// make every wake-up late by up to that much) and spins the rest, then hands the message to the connection
/// synchronously: no task wake-up, no executor hop between the timer and the socket. Every message is stamped
/// with its due time, so a late pacer or a stalled connection shows up as latency (no coordinated omission), and
/// the pacer's own lateness (wake-up minus due time) is recorded.
///
/// When a connection pushes back, the pacer waits for it (polling every 50 µs) and the messages behind it become
/// late; it never drops one.
struct OpenLoopPacer: Sendable {
    /// Target rate over all publishers, messages per second.
    let rate: Double
    /// Messages per publisher at most.
    let limitPerPublisher: Int
    /// Monotonic nanoseconds at which the pacer stops even if messages remain.
    let deadline: UInt64
    /// Topics per publisher (the lane of a message is its per-publisher index modulo this).
    let lanes: Int
    /// Payload size in bytes.
    let size: Int
    /// How long a stalled connection may hold the pacer before the segment fails.
    let stallLimit: UInt64

    /// The pacer sleeps until this long before a due time, then spins. A wake-up from `clock_nanosleep` comes
    /// 10-40 µs late on the 2-core VM the README's figures come from, even with no timer slack and a real-time
    /// priority; 40 µs of spinning gives a p99 lateness under 20 µs there and costs about a third of a core at
    /// 10,000 msg/s. The spinning is reported apart from the CPU per message (``Paced/spinNanoseconds``).
    static let spinNanoseconds: UInt64 = 40_000

    /// What a paced segment reports.
    struct Paced: Sendable {
        /// Per message: actual minus due send time, µs.
        var lateness: Histogram<UInt64>
        /// Time spent spinning before due times (CPU time of the pacer that is not publishing work).
        var spinNanoseconds: UInt64
    }

    /// Paces the segment on a new thread and returns once every message went out, the deadline passed or the
    /// segment failed.
    func run(publishers: [ImmediatePublisher], counters: SegmentCounters) async -> Paced {
        await withCheckedContinuation { (continuation: CheckedContinuation<Paced, Never>) in
            let job = PacerThread.Job { continuation.resume(returning: pace(publishers, counters)) }
            if !PacerThread.start(job) {
                counters.fail("cannot start the pacer thread")
                continuation.resume(returning: Paced(lateness: SubscriberState.latencyHistogram(), spinNanoseconds: 0))
            }
        }
    }

    /// The pacing loop (on the pacer thread).
    private func pace(_ publishers: [ImmediatePublisher], _ counters: SegmentCounters) -> Paced {
        var paced = Paced(lateness: SubscriberState.latencyHistogram(), spinNanoseconds: 0)
        let count = publishers.count
        guard count > 0 else { return paced }
        // Linux's default timer slack (50 µs) would dominate the lateness; and under the default scheduler a
        // woken thread can wait behind the busy ones (on 2 cores: the broker, the event loops and the subscriber).
        // A real-time priority, where the system grants it (root or CAP_SYS_NICE), removes that wait. It is asked
        // for only when the rate leaves the thread idle at least half the time (it spins up to `spinNanoseconds`
        // per message), so a high rate never turns it into a real-time busy loop that starves the others. Without
        // it the pacer runs at normal priority and its lateness shows the difference.
        _ = cpacer_set_timer_slack(1)
        let interval = 1e9 / rate
        if interval >= 2 * Double(Self.spinNanoseconds) {
            var priority = sched_param(sched_priority: 10)
            _ = pthread_setschedparam(pthread_self(), SCHED_FIFO, &priority)
        }
        let total = limitPerPublisher.multipliedReportingOverflow(by: count)
        let messages = total.overflow ? Int.max : total.partialValue
        var sequences = [UInt64](repeating: 0, count: count * lanes)
        var buffer = BenchPayload.make(
            size: size, header: .init(publisher: 0, lane: 0, sequence: 0, sentNanoseconds: 0))
        let start = BenchClock.now()
        var message = 0
        while message < messages {
            let intended = start + UInt64(Double(message) * interval)
            if intended >= deadline || counters.failed { break }
            paced.spinNanoseconds += Self.wait(until: intended)
            let now = BenchClock.now()
            _ = paced.lateness.record(Swift.min(Swift.max((now - intended) / 1000, 1), SubscriberState.highestLatency))
            let publisher = message % count
            let index = message / count
            let lane = index % lanes
            BenchPayload.write(
                .init(
                    publisher: publisher, lane: lane, sequence: sequences[publisher * lanes + lane],
                    sentNanoseconds: intended),
                into: &buffer)
            sequences[publisher * lanes + lane] += 1
            counters.countSent(warm: false)
            do {
                if try !publishers[publisher].send(lane, index, buffer) {
                    guard waitForCapacity(publishers[publisher], counters) else { break }
                }
            } catch {
                if !counters.stopping.load(ordering: .relaxed) {
                    counters.fail("publishing failed (the broker went away?): \(error)")
                }
                break
            }
            message += 1
        }
        return paced
    }

    /// Waits for a connection that pushed back; false when it stayed stalled past the limit or the segment failed.
    private func waitForCapacity(_ publisher: ImmediatePublisher, _ counters: SegmentCounters) -> Bool {
        let since = BenchClock.now()
        while !publisher.ready() {
            if counters.failed { return false }
            if BenchClock.now() - since > stallLimit {
                counters.fail("a publisher's connection stayed blocked for longer than the drain timeout")
                return false
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 50_000)
            _ = nanosleep(&pause, nil)
        }
        return true
    }

    /// Sleeps to shortly before `due`, then spins to it; returns the nanoseconds spun.
    @inline(__always)
    private static func wait(until due: UInt64) -> UInt64 {
        var now = BenchClock.now()
        if due > now + spinNanoseconds {
            let wake = due - spinNanoseconds
            var target = timespec(
                tv_sec: Int(wake / 1_000_000_000), tv_nsec: Int(wake % 1_000_000_000))
            while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
            now = BenchClock.now()
        }
        let spinStart = now
        while now < due { now = BenchClock.now() }
        return now - spinStart
    }
}

/// A detached POSIX thread that runs one job: the pacer must not share an executor thread with the tasks it
/// competes with, and must not be a task itself (a task cannot sleep to a microsecond).
enum PacerThread {
    /// The work of the thread; it reports its own completion.
    final class Job: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `job` on a new detached thread; false if the system refused one.
    static func start(_ job: Job) -> Bool {
        let context = Unmanaged.passRetained(job).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                let job = Unmanaged<Job>.fromOpaque(raw).takeRetainedValue()
                job.body()
                return nil
            }, context)
        guard created == 0 else {
            Unmanaged<Job>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}

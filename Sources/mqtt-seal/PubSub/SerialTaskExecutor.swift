import Dispatch

/// A task executor that runs jobs one at a time, in the order they were enqueued, on one dispatch queue.
///
/// `pub -l` starts one child task per QoS 1/2 message with this executor as preference: the tasks start in
/// line order and each hands its message to the client before its first suspension, so messages stay in
/// line order while up to a window of them wait for their acknowledgements at once.
final class SerialTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "mqtt-seal.pub.serial")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

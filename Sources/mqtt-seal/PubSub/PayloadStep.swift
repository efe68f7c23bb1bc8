import MQTT
import NIOCore

/// The step between the bytes a user gives `pub` (or reads from `sub`) and the MQTT payload on the wire.
///
/// `pub` and `sub` run every message through one step. Today that is ``PlaintextStep``; sealing with
/// `--keyring` plugs in here as another step (seal in ``outgoing(_:topic:)``, open and verify in
/// ``incoming(_:)``), without touching the connection or I/O code.
protocol PayloadStep: Sendable {
    /// What `pub` sends for `payload` on `topic`.
    func outgoing(_ payload: ByteBuffer, topic: String) throws(CLIFailure) -> ByteBuffer

    /// What `sub` prints for a received message, or `nil` to skip it (e.g. one that fails verification).
    func incoming(_ message: MQTTMessage) throws(CLIFailure) -> ByteBuffer?
}

/// Payloads as they are: no envelope.
struct PlaintextStep: PayloadStep {
    func outgoing(_ payload: ByteBuffer, topic: String) throws(CLIFailure) -> ByteBuffer { payload }

    func incoming(_ message: MQTTMessage) throws(CLIFailure) -> ByteBuffer? { message.payload }
}

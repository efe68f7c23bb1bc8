import ArgumentParser
import MQTT
import NIOCore

/// mosquitto_pub/sub's will flags: the message the broker publishes when the connection ends without DISCONNECT.
/// The will is sent in clear, also by a sealed client: an envelope sealed at connect time would be stale (older
/// than the readers' freshness window) by the time the broker publishes it.
struct WillOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The will's topic (no wildcards).", valueName: "topic"))
    var willTopic: String?

    @Option(help: ArgumentHelp("The will's payload, in clear (default: empty).", valueName: "text"))
    var willPayload: String?

    @Option(help: ArgumentHelp("The will's QoS: 0, 1 or 2 (default 0).", valueName: "qos"))
    var willQos: String?

    @Flag(help: "Retain the will.")
    var willRetain = false

    /// The will, or nil without --will-topic (then the other will flags are refused).
    func will() throws(CLIFailure) -> MQTTWill? {
        guard let willTopic else {
            let stray = [
                ("--will-payload", willPayload != nil), ("--will-qos", willQos != nil), ("--will-retain", willRetain),
            ]
            .filter(\.1).map(\.0)
            if let first = stray.first { throw CLIFailure(.usage, "\(first) needs --will-topic") }
            return nil
        }
        do {
            try MQTTTopic.validateName(willTopic)
        } catch {
            throw CLIFailure(
                .usage, "invalid --will-topic \(BrokerOptions.quoted(willTopic)): \(BrokerOptions.detail(error))")
        }
        let qos = try willQos.map { text throws(CLIFailure) in try BrokerOptions.qos(text, flag: "--will-qos") }
        return MQTTWill(
            topic: willTopic, payload: ByteBuffer(string: willPayload ?? ""), qos: qos ?? .atMostOnce,
            retain: willRetain)
    }
}

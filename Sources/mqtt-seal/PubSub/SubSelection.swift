import ArgumentParser
import MQTT
import TopicFilters

/// `sub`'s choice of what to print and when to stop, beyond `-C` and `-W`: mosquitto_sub's `-T`, `-R`,
/// `--retained-only` and `-E`.
struct SubSelectionOptions: ParsableArguments {
    @Option(
        name: [.customShort("T"), .customLong("filter-out")],
        help: ArgumentHelp(
            "Do not print messages whose topic matches this filter (repeat for several).", valueName: "filter"))
    var filterOut: [String] = []

    @Flag(name: [.customShort("R")], help: "Skip retained (stale) messages; they do not count for -C.")
    var skipRetained = false

    @Flag(help: "Print only retained messages; exit 0 at the first message that is not retained.")
    var retainedOnly = false

    @Flag(
        name: [.customShort("E")],
        help: "Exit 0 once subscribed (with -c and a fixed -i: create the session and leave; it keeps what arrives).")
    var exitWhenSubscribed = false

    /// The checked selection.
    func selection() throws(CLIFailure) -> SubSelection {
        if skipRetained && retainedOnly {
            throw CLIFailure(.usage, "sub: -R skips retained messages; --retained-only prints nothing else")
        }
        var excluded: [TopicPattern] = []
        for filter in filterOut {
            do {
                try MQTTTopic.validateFilter(filter)
                excluded.append(try TopicPattern(filter))
            } catch {
                throw CLIFailure(
                    .usage, "sub: invalid -T filter \(BrokerOptions.quoted(filter)): \(BrokerOptions.detail(error))")
            }
        }
        return SubSelection(excluded: excluded, skipRetained: skipRetained, retainedOnly: retainedOnly)
    }
}

/// What `sub` does with one message.
struct SubSelection: Sendable {
    enum Verdict: Sendable {
        case print
        case skip
        /// `--retained-only` and the first live message: exit 0 without printing it.
        case stop
    }

    let excluded: [TopicPattern]
    let skipRetained: Bool
    let retainedOnly: Bool

    func verdict(topic: String, retain: Bool) -> Verdict {
        if retainedOnly && !retain { return .stop }
        if skipRetained && retain { return .skip }
        // Byte-exact, like the broker's routing (TopicPattern compares UTF-8 bytes).
        if excluded.contains(where: { $0.matches(topic) }) { return .skip }
        return .print
    }
}

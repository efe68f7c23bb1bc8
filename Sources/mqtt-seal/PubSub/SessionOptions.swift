import ArgumentParser
import MQTT

/// The session flags of `pub` and `sub`: `-c` and `-x` as `mosquitto_pub` / `mosquitto_sub` spell them, and
/// `--store DIR`, the on-disk session store that lets a killed or rebooted `pub -l` resume without losing a line.
struct SessionOptions: ParsableArguments {
    @Flag(
        name: [.customShort("c"), .customLong("disable-clean-session")],
        help: "Keep the session when disconnected (clean start off); needs a fixed -i.")
    var disableCleanSession = false

    @Option(
        name: [.customShort("x"), .customLong("session-expiry")], parsing: .unconditional,
        help: ArgumentHelp(
            "MQTT 5 session expiry in seconds; -1 (the default with -c) never expires, 0 (the default) ends it.",
            valueName: "seconds"))
    var sessionExpiry: String?

    @Option(
        help: ArgumentHelp(
            "Keep the session on disk in this folder: messages accepted (at QoS 1 and 2) survive a crash and a restart.",
            discussion: "Needs -c and a fixed -i. With pub -l a line counts as accepted once it is in the store.",
            valueName: "folder"))
    var store: String?

    @Flag(
        help: ArgumentHelp(
            "With --store: hand records to the kernel without flushing them to disk (survives a crash, not a power loss)."
        ))
    var noStoreSync = false

    /// Applies the flags to `configuration`.
    func apply(to configuration: inout MQTTClientConfiguration, clientIDGiven: Bool) throws(CLIFailure) {
        if let store {
            guard disableCleanSession, clientIDGiven else {
                throw CLIFailure(.usage, "--store needs -c and a fixed client id (-i)")
            }
            if store.isEmpty { throw CLIFailure(.usage, "--store needs a folder") }
            configuration.sessionStore = MQTTSessionStoreOptions(
                directory: store, durability: noStoreSync ? .processCrash : .synchronized)
        } else if noStoreSync {
            throw CLIFailure(.usage, "--no-store-sync needs --store")
        }
        if disableCleanSession && !clientIDGiven {
            throw CLIFailure(.usage, "-c needs a fixed client id (-i): a random one cannot resume its session")
        }
        configuration.cleanStart = !disableCleanSession
        if let sessionExpiry {
            guard configuration.protocolVersion == .v5 else { throw CLIFailure(.usage, "-x needs MQTT 5 (-V 5)") }
            if sessionExpiry == "-1" {
                configuration.sessionExpiryInterval = MQTTClientConfiguration.sessionNeverExpires
            } else {
                configuration.sessionExpiryInterval = .seconds(
                    try BrokerOptions.integer(sessionExpiry, flag: "-x", in: 0...Int(UInt32.max)))
            }
        } else if disableCleanSession {
            configuration.sessionExpiryInterval = MQTTClientConfiguration.sessionNeverExpires
        }
    }
}

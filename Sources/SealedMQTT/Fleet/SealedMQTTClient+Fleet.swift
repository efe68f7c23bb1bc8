public import Logging
public import SealFleet
import SealKeyring

extension SealedMQTTClient {
    /// A fleet agent on this client's connection: it follows the device's key slot and, when this client's key
    /// source is a `KeyringWatcher` on the device keyring, reloads it the moment a slot is applied, so the next
    /// message is sealed and opened with the new keys. Run it beside the client (``FleetDeviceAgent/run()``).
    ///
    /// - Throws: `FleetError` (`notDevice`) when the keyring is not a device keyring.
    public func fleetAgent(
        device: FleetDeviceKeyring, topics: FleetTopics, requestAfter: Duration = .seconds(2),
        logger: Logger? = nil
    ) throws(FleetError) -> FleetDeviceAgent {
        let watcher = keys as? KeyringWatcher
        return try FleetDeviceAgent(
            client: client, device: device, topics: topics, requestAfter: requestAfter,
            logger: logger ?? configuration.logger,
            onApplied: { _ = watcher?.checkNow() })
    }
}

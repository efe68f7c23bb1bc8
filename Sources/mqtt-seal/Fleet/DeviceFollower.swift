import Logging
import MQTT
import SealFleet
import SealKeyring
import SealedMQTT

/// `pub --device` / `sub --device`: the keyring is a fleet device keyring; follow its key slot on the command's own
/// connection while it runs, reloading the keys the moment a slot is applied.
struct DeviceFollower {
    let location: KeyringLocation
    let topics: FleetTopics
    let logger: Logger

    /// How long a device without any slot yet waits for its first one before it starts anyway.
    static let firstSlotWait: Duration = .seconds(5)

    /// Subscribes to the slot, waits until the device holds its current slot (or ``firstSlotWait`` passes), then
    /// runs `body` while slots keep being applied.
    func during<R>(
        client: MQTTClient, reload: @escaping @Sendable () -> Void, _ body: () async throws -> R
    ) async throws -> R {
        let agent: FleetDeviceAgent
        let credential = try location.credential()
        do throws(FleetError) {
            agent = try FleetDeviceAgent(
                client: client, device: FleetDeviceKeyring(file: location.file, credential: credential),
                topics: topics, requestAfter: .seconds(1), logger: logger, onApplied: reload)
        } catch {
            throw CLIFailure(fleetError: error)
        }
        let stream = try await agent.subscribe()
        return try await withThrowingTaskGroup(of: Void.self, returning: R.self) { group in
            group.addTask { try await agent.follow(stream) }
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: Self.firstSlotWait)
            while clock.now < deadline {
                let statistics = agent.statistics
                if statistics.applied + statistics.alreadyApplied + statistics.cleared > 0
                    || !statistics.rejected.isEmpty
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            let result = try await body()
            group.cancelAll()
            return result
        }
    }
}

extension DeviceFollower? {
    /// Runs `body` while following the device's slot, or just runs it without `--device`.
    func during<R>(
        client: MQTTClient, reload: @escaping @Sendable () -> Void, _ body: () async throws -> R
    ) async throws -> R {
        guard let self else { return try await body() }
        return try await self.during(client: client, reload: reload, body)
    }
}

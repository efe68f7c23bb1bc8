import ArgumentParser
import Foundation
import LocalBroker
import Logging
import MQTT
import SealFleet
import SealKeyring
import SealedMQTT

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-seal fleet bench`: enrol, rotate and revoke a simulated fleet against a broker it starts itself, the
/// authority in this process and the devices in one child process, and report per phase: the authority's CPU
/// time, the bytes and slots it published, the time until every device acknowledged, and its peak memory.
struct FleetBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure enrol, rotate and revoke for a simulated fleet (own mosquitto, devices in a child process)."
    )

    @Option(help: ArgumentHelp("Devices to simulate.", valueName: "n"))
    var devices: String = "1000"

    @Option(help: ArgumentHelp("MQTT connections the devices share.", valueName: "n"))
    var connections: String = "20"

    @Option(help: ArgumentHelp("Give up on a phase after this many seconds.", valueName: "seconds"))
    var deadline: String = "300"

    func run() async throws {
        try await runReportingFailures {
            let count = try BrokerOptions.integer(devices, flag: "--devices", in: 2...100_000)
            let shared = try BrokerOptions.integer(connections, flag: "--connections", in: 1...1000)
            let limit = try BrokerOptions.integer(deadline, flag: "--deadline", in: 1...3600)
            try await FleetBench(devices: count, connections: shared, deadline: .seconds(limit)).run()
        }
    }
}

struct FleetBench {
    let devices: Int
    let connections: Int
    let deadline: Duration

    struct Phase {
        let name: String
        let seconds: Double
        let cpuSeconds: Double
        let slots: Int
        let bytes: Int
        let coverage: (Int, Int)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static func peakMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    static func readLines(_ handle: FileHandle, count: Int) -> [String] {
        var lines: [String] = []
        var pending = Data()
        while lines.count < count {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
        return lines
    }

    func run() async throws {
        let broker: LocalBroker
        do {
            broker = try await LocalBroker.start(LocalBroker.Configuration(maxQueuedMessages: 1_000_000))
        } catch {
            throw CLIFailure(.ioError, "cannot start mosquitto: \(error)")
        }
        defer { broker.stopNow() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let kek = folder.appendingPathComponent("kek").path
        let credential = try KeyringCredential.generateKeyEncryptionKeyFile(kek)
        let store = FleetStore(path: folder.appendingPathComponent("authority.keyring").path, credential: credential)
        let topics = try FleetTopics()
        let authorityKey = try store.create(topics: topics)

        // The devices' process creates their keyrings and prints one enrolment request per line.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = [
            "fleet", "bench-devices", "--dir", folder.path, "--kek-file", kek, "--count", "\(devices)",
            "--authority", Data(authorityKey).base64EncodedString(), "--connections", "\(connections)", "-p",
            "\(broker.plainPort)",
        ]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        defer {
            child.terminate()
            child.waitUntilExit()
        }
        // Setup, before anything is measured: the child's lines are read with blocking reads.
        let lines = Self.readLines(output.fileHandleForReading, count: devices + 1)
        guard lines.count == devices + 1, lines.last == "ready" else {
            throw CLIFailure(.ioError, "the device process failed after \(lines.count) lines")
        }
        var authority = try store.load()
        var enrolled = 0
        for line in lines.dropLast() {
            let request = try EnrolmentRequest.decode(line)
            // One writer per 100 devices on its plant's telemetry; everyone reads its plant.
            let plant = enrolled % 20
            try authority.enroll(
                request, read: [try TopicFilter("plant/\(plant)/#")],
                write: enrolled % 100 == 0 ? [try TopicFilter("plant/\(plant)/telemetry")] : [])
            enrolled += 1
        }
        try store.save(authority)

        let client = try MQTTClient(configuration: broker.configurationForBench("fleet-bench-authority"))
        try await client.connect()
        let link = FleetAuthorityLink(client: client, topics: topics)
        let reports = try await link.reports()
        var phases: [Phase] = []

        func phase(_ name: String, _ change: (inout FleetAuthority) throws -> [UInt32]) async throws {
            let clock = ContinuousClock()
            let start = clock.now
            let cpu = Self.cpuSeconds()
            var slots = 0
            var bytes = 0
            let staged = try change(&authority)
            for step in 0..<(staged.isEmpty ? 1 : 2) {
                if step == 1 { try authority.promote(staged, grace: .seconds(3600)) }
                let publications = try authority.publications()
                try store.save(authority)
                let (published, received) = try await link.publish(publications, draining: reports)
                bytes += published
                slots += publications.count
                _ = try await FleetAuthorityLink.collect(
                    reports, into: &authority, until: clock.now.advanced(by: deadline), pending: received
                ) { authority in
                    let (current, total) = authority.currentCoverage
                    return current == total
                }
            }
            try store.save(authority)
            let elapsed = clock.now - start
            phases.append(
                Phase(
                    name: name,
                    seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                    cpuSeconds: Self.cpuSeconds() - cpu, slots: slots, bytes: bytes,
                    coverage: authority.currentCoverage))
        }

        try await phase("enrol (first slots)") { _ in [] }
        try await phase("rotate (stage, 100%, promote, 100%)") { try $0.stageRotation() }
        try await phase("revoke one reader (stage, 100%, promote, 100%)") { try $0.revoke("d-1") }
        await client.disconnect()

        print("fleet bench: \(devices) devices on \(connections) connections, one mosquitto, this machine")
        print("| phase | devices current | time to 100% | authority CPU | slots | bytes published |")
        print("| --- | --- | --- | --- | --- | --- |")
        for phase in phases {
            print(
                "| \(phase.name) | \(phase.coverage.0)/\(phase.coverage.1) | "
                    + String(format: "%.2f s | %.2f s | ", phase.seconds, phase.cpuSeconds)
                    + "\(phase.slots) | \(phase.bytes) |")
        }
        print(String(format: "authority peak memory (max RSS): %.1f MB", Self.peakMegabytes()))
    }
}

/// The devices' side of `fleet bench`, in its own process: creates the device keyrings, prints their requests,
/// follows every slot on a few shared connections until the bench terminates it.
struct FleetBenchDevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-devices", abstract: "The device process of fleet bench.", shouldDisplay: false)

    @Option var dir: String
    @Option(name: .customLong("kek-file")) var kekFile: String
    @Option var count: Int
    @Option var authority: String
    @Option var connections: Int
    @Option(name: .customShort("p")) var port: Int

    func run() async throws {
        let parent = getppid()
        let credential = try KeyringCredential.keyEncryptionKeyFile(kekFile)
        let authorityKey = try FleetArgument.publicKey(authority, flag: "--authority")
        let topics = try FleetTopics()
        var keyrings: [FleetDeviceKeyring] = []
        for index in 0..<count {
            // Each device has its own folder, as each real device has its own storage (one folder for all would
            // serialise every write on that folder's lock in the kernel).
            let folder = "\(dir)/d-\(index)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            let file = KeyringFile(path: "\(folder)/device.keyring")
            let request = try FleetDeviceKeyring.create(
                file: file, credential: credential, device: "d-\(index)", authority: authorityKey,
                kdf: .minimum)
            FileHandle.standardOutput.write(Data((request.encode() + "\n").utf8))
            keyrings.append(FleetDeviceKeyring(file: file, credential: credential))
        }
        var clients: [MQTTClient] = []
        for index in 0..<connections {
            var configuration = MQTTClientConfiguration(
                host: "127.0.0.1", port: port, clientID: "fleet-bench-devices-\(index)")
            configuration.requestTimeout = .seconds(60)
            let client = try MQTTClient(configuration: configuration)
            try await client.connect()
            clients.append(client)
        }
        let agents = try keyrings.enumerated().map { index, keyring in
            try FleetDeviceAgent(
                client: clients[index % clients.count], device: keyring, topics: topics, requestAfter: .seconds(3600),
                logger: Logger(label: "fleet-bench-devices", factory: { _ in SwiftLogNoOpLogHandler() }))
        }
        var streams: [MQTTMessageStream] = []
        for agent in agents { streams.append(try await agent.subscribe()) }
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        // Runs until the bench terminates this process, or until the bench is gone (killed: its `defer` did not
        // run), so no device process outlives its bench.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (agent, stream) in zip(agents, streams) {
                group.addTask { try await agent.follow(stream) }
            }
            group.addTask {
                while getppid() == parent { try await Task.sleep(for: .seconds(1)) }
                throw CLIFailure(.ioError, "the bench process is gone")
            }
            try await group.next()
            group.cancelAll()
        }
    }
}

extension LocalBroker {
    func configurationForBench(_ clientID: String) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(host: host, port: plainPort, clientID: clientID)
        configuration.requestTimeout = .seconds(60)
        configuration.reconnect = .disabled
        return configuration
    }
}

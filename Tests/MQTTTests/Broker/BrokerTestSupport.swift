import LocalBroker
import MQTT
import NIOCore

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with `TestTimeout` after `seconds`.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String = "operation", _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            throw TestTimeout(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Collects exactly `count` messages (bounded by `seconds`).
func collect(_ stream: MQTTMessageStream, count: Int, seconds: Double = 10) async throws -> [MQTTMessage] {
    try await withTimeout(seconds, "\(count) messages") {
        var messages: [MQTTMessage] = []
        for try await message in stream {
            messages.append(message)
            if messages.count == count { break }
        }
        return messages
    }
}

/// Asserts nothing arrives for `seconds`: returns what did arrive (expected empty).
func collectFor(_ stream: MQTTMessageStream, seconds: Double) async -> [MQTTMessage] {
    let box = MessageBox()
    _ = try? await withTimeout(seconds, "quiet period") {
        for try await message in stream { await box.append(message) }
        return 0
    }
    return await box.messages
}

actor MessageBox {
    var messages: [MQTTMessage] = []
    func append(_ message: MQTTMessage) { messages.append(message) }
}

extension LocalBroker {
    /// A client configuration for this broker's plain listener.
    func clientConfiguration(
        _ version: MQTTProtocolVersion = .v5, clientID: String = "", username: String? = nil, password: String? = nil
    ) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(
            host: host, port: plainPort, protocolVersion: version, clientID: clientID, username: username,
            password: password)
        configuration.connectTimeout = .seconds(5)
        configuration.requestTimeout = .seconds(5)
        configuration.reconnect = .disabled
        return configuration
    }

    /// A connected client on the plain listener.
    func connectedClient(
        _ version: MQTTProtocolVersion = .v5, clientID: String = "",
        configure: (inout MQTTClientConfiguration) -> Void = { _ in }
    ) async throws -> MQTTClient {
        var configuration = clientConfiguration(version, clientID: clientID)
        configure(&configuration)
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        return client
    }
}

func payload(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

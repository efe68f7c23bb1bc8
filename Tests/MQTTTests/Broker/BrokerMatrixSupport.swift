import Foundation
import LocalBroker
import NIOCore
import Testing

@testable import MQTT

/// One broker of the interop matrix as the checks see it: where to connect, and what it announces and allows.
///
/// The same checks (``BrokerMatrixChecks``) run against every broker; the differences between brokers are data here,
/// found by experiment against the Debian packages (mosquitto 2.0.11, RabbitMQ 3.10.8, ejabberd 23.01) and asserted,
/// so that a client that misparses a CONNACK or mishandles a broker's answer fails the suite.
struct MatrixBroker: Sendable {
    var name: String
    var host = "127.0.0.1"
    /// The MQTT listener the checks use.
    var port: Int
    var username: String?
    var password: String?
    /// The protocol versions the broker speaks.
    var versions: [MQTTProtocolVersion]
    /// The highest QoS the broker delivers and acknowledges (RabbitMQ 3.10: 1, it answers a QoS 2 PUBLISH with PUBACK).
    var maximumQoS: MQTTQoS
    /// The MQTT 5 CONNACK properties the broker sends to ``MatrixChecks/connackProbe`` (client id set, Session Expiry
    /// Interval 3,600 s requested), or `nil` without MQTT 5.
    var connackProperties: MQTTProperties?
    /// Whether `$share/<group>/<filter>` load-balances between the group's members.
    var sharedSubscriptions: Bool
    /// Whether the broker keeps messages larger than the client's MQTT 5 Maximum Packet Size from it (ejabberd 23.01
    /// ignores the property and sends them).
    var honoursClientMaximumPacketSize: Bool
    /// Payload sizes for the large-payload check (each one published and received, compared byte for byte).
    var largePayloads: [Int] = [1 << 20, 20 << 20]

    func configuration(
        _ version: MQTTProtocolVersion, clientID: String, port: Int? = nil
    ) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(
            host: host, port: port ?? self.port, protocolVersion: version, clientID: clientID, username: username,
            password: password)
        configuration.connectTimeout = .seconds(10)
        configuration.requestTimeout = .seconds(10)
        configuration.reconnect = .disabled
        return configuration
    }

    /// A connected client.
    func client(
        _ version: MQTTProtocolVersion, _ id: String, port: Int? = nil,
        configure: (inout MQTTClientConfiguration) -> Void = { _ in }
    ) async throws -> MQTTClient {
        var configuration = configuration(version, clientID: id + "-" + uniqueSuffix(), port: port)
        configure(&configuration)
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        return client
    }
}

/// A short random suffix: client ids and topics are unique per run, so a broker's state from another check
/// (retained messages, sessions) cannot leak into this one.
func uniqueSuffix() -> String {
    String(UInt32.random(in: 0...UInt32.max), radix: 36)
}

/// The properties a test expects in a CONNACK, built field by field.
func connackProperties(_ build: (inout MQTTProperties) -> Void) -> MQTTProperties {
    var properties = MQTTProperties()
    build(&properties)
    return properties
}

/// Publishes `count` messages concurrently and returns the outcome of each, by index: the broker's reason code, or
/// the error the publish ended with.
func publishAll(
    _ publisher: MQTTClient, count: Int, topic: String, qos: MQTTQoS, prefix: String = ""
) async -> [Int: Result<MQTTReasonCode, MQTTError>] {
    await withTaskGroup(of: (Int, Result<MQTTReasonCode, MQTTError>).self) { group in
        for index in 0..<count {
            group.addTask {
                do {
                    let code = try await publisher.publish(
                        to: topic, payload: ByteBuffer(string: "\(prefix)\(index)"), qos: qos)
                    return (index, .success(code))
                } catch let error as MQTTError {
                    return (index, .failure(error))
                } catch {
                    return (index, .failure(MQTTError(.timeout, reasonCode: .unspecifiedError, "\(error)")))
                }
            }
        }
        var outcomes: [Int: Result<MQTTReasonCode, MQTTError>] = [:]
        for await (index, outcome) in group { outcomes[index] = outcome }
        return outcomes
    }
}

/// A byte pattern that differs at every offset modulo 251, so a reordered or truncated payload cannot compare equal.
func patternPayload(size: Int, seed: UInt8) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: size)
    buffer.writeBytes((0..<size).lazy.map { UInt8(truncatingIfNeeded: $0 % 251) &+ seed })
    return buffer
}

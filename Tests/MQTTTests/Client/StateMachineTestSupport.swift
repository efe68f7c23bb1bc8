import NIOCore

@testable import MQTT

/// The client's state machine with plain integers as publish and request tokens.
typealias Machine = ClientStateMachine<Int, Int>

/// Drives a ``ClientStateMachine`` the way ``ClientCore`` does, without sockets or timers, and describes the actions
/// of each event in one short line each (log actions left out), so that a test reads as the protocol exchange.
struct MachineDriver {
    var machine: Machine
    private(set) var connectionID = 0

    init(_ configure: (inout MQTTClientConfiguration) -> Void = { _ in }) {
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", clientID: "machine-test")
        configuration.reconnect.jitter = 0
        configure(&configuration)
        machine = Machine(configuration: configuration)
    }

    /// Runs one event and describes its actions.
    mutating func step(_ event: (inout Machine, inout Machine.Actions) -> Void) -> [String] {
        var actions = Machine.Actions()
        event(&machine, &actions)
        return actions.all.compactMap(describe)
    }

    /// Opens a connection up to CONNECT (TCP connected, CONNECT sent); returns the actions of `channelConnected`.
    mutating func open(initial: Bool = true) -> [String] {
        connectionID += 1
        let id = connectionID
        machine.connectionStarted(id: id, initial: initial)
        return step { $0.channelConnected(id: id, &$1) }
    }

    /// Opens a connection and answers CONNACK; returns the actions of the CONNACK.
    mutating func connect(
        initial: Bool = true, sessionPresent: Bool = false, properties: MQTTProperties = MQTTProperties()
    ) -> [String] {
        _ = open(initial: initial)
        return receive(.connack(MQTTConnAck(sessionPresent: sessionPresent, properties: properties)))
    }

    mutating func receive(_ packet: MQTTPacket) -> [String] {
        let id = connectionID
        return step { $0.received(packet, connectionID: id, &$1) }
    }

    /// The socket of the current connection closed.
    mutating func close() -> [String] {
        let id = connectionID
        return step { $0.connectionClosed(id: id, &$1) }
    }

    /// A QoS 1/2 (or waited-for QoS 0) publish of payload `m<token>` to `topic`; `storeKey` as a session store
    /// accepted it.
    mutating func publish(_ token: Int, qos: MQTTQoS, topic: String = "t", storeKey: UInt64? = nil) -> [String] {
        step {
            $0.publish(
                MQTTPublish(topic: topic, payload: ByteBuffer(string: "m\(token)"), qos: qos), token: token,
                storeKey: storeKey, &$1)
        }
    }

    /// SUBSCRIBE with request token `token`; returns its packet identifier and actions.
    mutating func subscribe(_ token: Int, to filters: [String], qos: MQTTQoS = .atLeastOnce) -> [String] {
        let subscriptions = filters.map {
            MQTTSubscription(topicFilter: $0, options: MQTTSubscriptionOptions(qos: qos))
        }
        return step {
            $0.request(
                .subscribe(subscriptions, token),
                packet: { .subscribe(MQTTSubscribe(packetIdentifier: $0, subscriptions: subscriptions)) }, &$1)
        }
    }

    /// A 20 MiB PUBLISH the framer skipped as larger than the maximum packet size.
    mutating func skipOversized(qos: MQTTQoS, id packetIdentifier: UInt16?) -> [String] {
        let id = connectionID
        return step {
            $0.skippedOversizedPublish(
                topic: "big", qos: qos, packetIdentifier: packetIdentifier, size: 20 << 20, connectionID: id, &$1)
        }
    }

    /// An incoming PUBLISH with payload `payload`.
    mutating func incoming(
        _ payload: String, topic: String, qos: MQTTQoS, id: UInt16? = nil, dup: Bool = false
    ) -> [String] {
        receive(
            .publish(
                MQTTPublish(
                    topic: topic, payload: ByteBuffer(string: payload), qos: qos, dup: dup, packetIdentifier: id))
        )
    }
}

/// One line per action: what a reader of a packet trace would want to see.
func describe(_ action: Machine.Action) -> String? {
    switch action {
    case .sendConnect(let connect): return "CONNECT clean=\(connect.cleanStart)"
    case .connectionEstablished(let keepAlive, let reset):
        return "established keepAlive=\(keepAlive.map { "\($0.nanoseconds / 1_000_000_000)s" } ?? "off")"
            + (reset == nil ? "" : " resetBackoffLater")
    case .connectSucceeded: return "connected"
    case .connectFailed(let error): return "connect failed \(error.code)"
    case .close: return "close"
    case .closeAfterDisconnect(let disconnect):
        return disconnect.map { "DISCONNECT " + hex($0.reasonCode) + " and close" } ?? "close"
    case .pauseReading: return "pause reading"
    case .resumeReading: return "resume reading"
    case .connectionLost: return "connection lost"
    case .scheduleReconnect(let attempt): return "reconnect attempt \(attempt)"
    case .reconnect: return "reconnect"
    case .send(let packet): return describe(packet)
    case .sendPublish(let publish, let token):
        let payload = String(buffer: publish.payload)
        var line = "PUBLISH \(payload)"
        if let id = publish.packetIdentifier { line += " id=\(id)" }
        if publish.dup { line += " dup" }
        if token != nil { line += " (caller waits)" }
        return line
    case .sendRequest(let packet, _): return describe(packet)
    case .succeedPublish(let token, let code): return "publish \(token) done " + hex(code)
    case .failPublish(let token, let error): return "publish \(token) failed \(error.code)"
    case .startRequestTimer(let id): return "timer \(id)"
    case .cancelRequestTimer(let id): return "cancel timer \(id)"
    case .succeedSubscribe(let token, _, let stream):
        return "subscribed \(token) stream=\(stream.map(String.init) ?? "none")"
    case .succeedUnsubscribe(let token, _): return "unsubscribed \(token)"
    case .failRequest(let token, let error): return "request \(token) failed \(error.code)"
    case .failWritabilityWaiters: return nil
    case .openStream(let id, let filters): return "open stream \(id) \(filters.joined(separator: ","))"
    case .deliver(let message, let id, _): return "deliver \(String(buffer: message.payload)) to \(id)"
    case .acknowledge(.puback(let id, _)): return "PUBACK \(id)"
    case .acknowledge(.pubrec(let id)): return "PUBREC \(id)"
    case .finishStream(let id, let error, let discard):
        return "finish stream \(id)" + (error.map { " \($0.code)" } ?? "") + (discard ? " discard" : "")
    case .terminated(let error): return "terminated" + (error.map { " \($0.code) " + hex($0.reasonCode) } ?? "")
    case .persist(let record): return "store " + describe(record)
    case .log: return nil
    }
}

func describe(_ record: SessionRecord) -> String {
    switch record {
    case .accepted(let key, let publish): return "accepted \(key) \(String(buffer: publish.payload))"
    case .assigned(let key, let id): return "assigned \(key) id=\(id)"
    case .released(let key): return "released \(key)"
    case .finished(let key): return "finished \(key)"
    case .incomingReceived(let id): return "incoming \(id)"
    case .incomingReleased(let id): return "incoming released \(id)"
    case .incomingCleared: return "incoming cleared"
    }
}

func describe(_ packet: MQTTPacket) -> String {
    func ack(_ name: String, _ ack: MQTTPubAck) -> String {
        "\(name) \(ack.packetIdentifier)" + (ack.reasonCode == .success ? "" : " " + hex(ack.reasonCode))
    }
    switch packet {
    case .puback(let value): return ack("PUBACK", value)
    case .pubrec(let value): return ack("PUBREC", value)
    case .pubrel(let value): return ack("PUBREL", value)
    case .pubcomp(let value): return ack("PUBCOMP", value)
    case .pingreq: return "PINGREQ"
    case .subscribe(let value):
        return "SUBSCRIBE \(value.packetIdentifier) \(value.subscriptions.map(\.topicFilter).joined(separator: ","))"
    case .unsubscribe(let value): return "UNSUBSCRIBE \(value.packetIdentifier)"
    case .disconnect(let value): return "DISCONNECT " + hex(value.reasonCode)
    default: return "\(packet)"
    }
}

/// A reason code as the specification's tables write it: `0x97`.
func hex(_ code: MQTTReasonCode) -> String {
    let digits = String(code.rawValue, radix: 16)
    return "0x" + (digits.count < 2 ? "0" + digits : digits)
}

import Logging
import NIOCore

extension ClientStateMachine {
    /// What the driver (``ClientCore``) must do after an event. The state machine decides; the driver owns the
    /// sockets, timers, promises and streams and carries the actions out in order.
    enum Action {
        // Connections
        /// Send CONNECT on the connection being opened and start its CONNACK timer.
        case sendConnect(MQTTConnect)
        /// CONNACK accepted: start keepalive (if any), the stable-connection timer (if the backoff is to be reset
        /// once the connection lasts) and let publishers through.
        case connectionEstablished(keepAlive: TimeAmount?, resetBackoffAfter: TimeAmount?)
        /// Complete the pending `connect()` with the CONNACK.
        case connectSucceeded(MQTTConnAck)
        /// Fail the pending `connect()`.
        case connectFailed(MQTTError)
        /// Close the current connection's socket.
        case close
        /// Send DISCONNECT (MQTT 5, when given) and close: a protocol violation by the broker.
        case closeAfterDisconnect(MQTTDisconnect?)
        /// Stop reading from the socket (a stream's buffer is full).
        case pauseReading
        /// Read from the socket again.
        case resumeReading
        /// The connection is gone: publishers wait (QoS 1/2) or are refused (QoS 0) from now on.
        case connectionLost
        /// Try to connect again after the backoff for `attempt`.
        case scheduleReconnect(attempt: Int)
        /// Open a connection that resumes the session (`cleanStart: false`).
        case reconnect

        // Packets
        /// Encode and send a control packet (no outcome to report).
        case send(MQTTPacket)
        /// Encode and send a PUBLISH. QoS 0 with a caller waiting carries its token; for QoS 1/2 an encoding failure
        /// is reported back with ``ClientStateMachine/publishNotSent(packetIdentifier:error:_:)``.
        case sendPublish(MQTTPublish, qos0Token: PublishToken?)
        /// Encode and send SUBSCRIBE/UNSUBSCRIBE; an encoding failure is reported back with
        /// ``ClientStateMachine/requestNotSent(packetIdentifier:error:_:)``.
        case sendRequest(MQTTPacket, packetIdentifier: UInt16)

        /// Record a change of the session in the session store (only when one is configured). The driver writes it
        /// before the next packet reaches the socket.
        case persist(SessionRecord)

        // Outcomes
        case succeedPublish(PublishToken, MQTTReasonCode)
        case failPublish(PublishToken, MQTTError)
        /// Start the acknowledgement timer of a request.
        case startRequestTimer(UInt16)
        /// Stop the acknowledgement timer of a request.
        case cancelRequestTimer(UInt16)
        /// SUBACK: the subscription's stream (if every filter was granted) was opened by ``openStream(id:filters:)``.
        case succeedSubscribe(RequestToken, MQTTSubAck, streamID: Int?)
        case succeedUnsubscribe(RequestToken, MQTTUnsubAck)
        case failRequest(RequestToken, MQTTError)
        /// Fail the QoS 0 publishes waiting for the socket to become writable.
        case failWritabilityWaiters(MQTTError)

        // Streams
        /// Create the stream `id` for `filters` (before any message is delivered to it).
        case openStream(id: Int, filters: [String])
        /// Hand `message` to stream `id`; a full buffer is reported back with ``ClientStateMachine/streamFull(_:_:)``.
        /// `ack` is the acknowledgement a following ``acknowledge(_:)`` sends: a stream that isolates its slow
        /// consumer may hold the message and withhold it (``MQTTSlowSubscriptionPolicy/isolate``).
        case deliver(MQTTMessage, streamID: Int, ack: UnroutedMessages.DeferredAck? = nil)
        /// Send the acknowledgement of the message just delivered, unless a stream withheld it (then it is sent when
        /// the last such stream's consumer takes the message: ``ClientStateMachine/withheldAcknowledgementsTaken``).
        case acknowledge(UnroutedMessages.DeferredAck)
        /// End stream `id` after its buffered messages (with `error`, or normally); `discard`: nobody will read it,
        /// so its buffered messages go now (and their withheld acknowledgements with them).
        case finishStream(id: Int, error: MQTTError?, discard: Bool = false)

        // The client
        /// The client stopped for good (`nil`: a deliberate shutdown): refuse new publishes, complete `closed()`.
        case terminated(MQTTError?)
        case log(Logger.Level, String)
    }

    /// The actions of one event, in order. The first two are stored inline: most events (a PUBLISH sent, a PUBACK
    /// received, a message delivered and acknowledged) produce one or two, and then no array is allocated.
    struct Actions {
        private var first: Action?
        private var second: Action?
        private var rest: [Action] = []

        init() {}

        var isEmpty: Bool { first == nil }

        mutating func append(_ action: Action) {
            if first == nil {
                first = action
            } else if second == nil {
                second = action
            } else {
                rest.append(action)
            }
        }

        /// Calls `body` for each action in order.
        func forEach(_ body: (Action) throws -> Void) rethrows {
            guard let first else { return }
            try body(first)
            guard let second else { return }
            try body(second)
            for action in rest { try body(action) }
        }

        /// The actions as an array (for tests).
        var all: [Action] {
            var result: [Action] = []
            forEach { result.append($0) }
            return result
        }
    }
}

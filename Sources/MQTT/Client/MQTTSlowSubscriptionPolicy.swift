/// What the client does when one subscription's consumer stops keeping up and its buffer
/// (``MQTTClientConfiguration/subscriptionBufferCapacity``) is full.
///
/// The client has one socket: it cannot read the messages of the other subscriptions without either keeping or
/// dropping the ones for the full subscription. The choice is the application's.
public enum MQTTSlowSubscriptionPolicy: Sendable, Hashable {
    /// Stop reading the socket until the consumer has drained its buffer to half (the default). Nothing is dropped
    /// and memory stays bounded by the buffer, but every subscription of the client waits for the slowest one; TCP
    /// flow control pushes back to the broker, which queues.
    case pauseReading

    /// Keep reading for the other subscriptions; the full subscription's messages are handled by QoS:
    ///
    /// - QoS 0 messages for it are dropped (QoS 0 promises at most once) and counted in
    ///   ``MQTTMessageStream/droppedCount``; a warning is logged for the first one.
    /// - QoS 1 and 2 messages are kept, but their PUBACK / PUBREC is withheld until the consumer takes them. The
    ///   broker's flow control (this client's ``MQTTClientConfiguration/receiveMaximum`` in MQTT 5, the broker's
    ///   in-flight limit in MQTT 3.1.1, 20 by default in mosquitto) then stops it from sending more QoS 1/2
    ///   messages to this client until the consumer catches up: other subscriptions keep receiving QoS 0 messages,
    ///   and QoS 1/2 messages only while the withheld ones leave room in that window. Nothing acknowledged is lost.
    /// - If a subscription holds as many withheld messages as its buffer capacity (a broker window larger than the
    ///   buffer), reading pauses as with ``pauseReading``, so a stream never holds more than twice its capacity.
    ///
    /// A stream dropped by the application acknowledges and discards what it held.
    case isolate
}

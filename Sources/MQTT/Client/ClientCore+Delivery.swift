import NIOCore

/// Incoming application messages: topic aliases, the QoS 1/2 receive flows, routing to the subscription streams
/// and the unrouted buffer, read pausing, and the streams themselves. Runs on the client's loop like the rest of
/// ``ClientCore``.
extension ClientCore {
    /// Resolves the topic alias, then delivers and acknowledges by QoS.
    func handleIncomingPublish(_ publish: MQTTPublish, on connection: MQTTConnection) {
        var topic = publish.topic
        var properties = publish.properties
        if let alias = properties.topicAlias {
            guard connection.version == .v5, alias > 0, alias <= configuration.topicAliasMaximum else {
                protocolViolation(
                    MQTTError(.protocolError, reasonCode: .topicAliasInvalid, "topic alias \(alias) out of range"),
                    connectionID: connection.id)
                return
            }
            if topic.isEmpty {
                guard let known = connection.incomingAliases[alias] else {
                    protocolViolation(
                        MQTTError(.protocolError, reasonCode: .protocolError, "unknown topic alias \(alias)"),
                        connectionID: connection.id)
                    return
                }
                topic = known
            } else {
                connection.incomingAliases[alias] = topic
            }
            properties.topicAlias = nil
        } else if topic.isEmpty {
            protocolViolation(.protocolError("PUBLISH with an empty topic and no alias"), connectionID: connection.id)
            return
        }
        let message = MQTTMessage(
            topic: topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, properties: properties)
        // A message is acknowledged only once a stream holds it or the bounded unrouted buffer does.
        switch publish.qos {
        case .atMostOnce:
            if !deliver(message, on: connection) { _ = keepUnrouted(message, ack: nil) }
        case .atLeastOnce:
            guard let id = publish.packetIdentifier else { return }
            if deliver(message, on: connection)
                || keepUnrouted(message, ack: .puback(packetIdentifier: id, connectionID: connection.id))
            {
                try? send(.puback(MQTTPubAck(packetIdentifier: id)), on: connection)
            }
        case .exactlyOnce:
            guard let id = publish.packetIdentifier else { return }
            // Exactly once: deliver on the first PUBLISH with this id; a resend (DUP) before PUBREL is not
            // delivered again.
            if incomingQoS2.insert(id).inserted {
                if deliver(message, on: connection) || keepUnrouted(message, ack: .pubrec(packetIdentifier: id)) {
                    try? send(.pubrec(MQTTPubAck(packetIdentifier: id)), on: connection)
                }
            } else if !unrouted.withholdsPubrec(id) {
                try? send(.pubrec(MQTTPubAck(packetIdentifier: id)), on: connection)
            }
        }
    }

    /// A PUBLISH larger than ``MQTTClientConfiguration/maximumPacketSize`` that the broker sent anyway: skipped with
    /// an error in the log, and acknowledged with a failure code (MQTT 5) so that the broker does not resend it.
    func skippedOversizedPublish(
        topic: String, qos: MQTTQoS, packetIdentifier: UInt16?, size: Int, connectionID: Int
    ) {
        guard let connection, connection.id == connectionID, connection.established, !connection.closing else { return }
        oversizedMessagesSkipped += 1
        logger.error(
            "skipped a message larger than the maximum packet size",
            metadata: [
                "topic": "\(topic.prefix(128))", "bytes": "\(size)",
                "maximumPacketSize": "\(configuration.maximumPacketSize)",
            ])
        guard let id = packetIdentifier else { return }
        let code: MQTTReasonCode = connection.version == .v5 ? .unspecifiedError : .success
        switch qos {
        case .atMostOnce: break
        case .atLeastOnce: try? send(.puback(MQTTPubAck(packetIdentifier: id, reasonCode: code)), on: connection)
        case .exactlyOnce:
            // MQTT 3.1.1 has no failure PUBREC: the flow continues to PUBCOMP without a delivery.
            if connection.version == .v311 { incomingQoS2.insert(id) }
            try? send(.pubrec(MQTTPubAck(packetIdentifier: id, reasonCode: code)), on: connection)
        }
    }

    /// Hands `message` to every matching stream; `false` if none matched.
    private func deliver(_ message: MQTTMessage, on connection: MQTTConnection) -> Bool {
        var delivered = false
        for stream in streams.values where stream.matches(message.topic) {
            delivered = true
            hand(message, to: stream, on: connection)
        }
        return delivered
    }

    private func hand(_ message: MQTTMessage, to stream: StreamBox, on connection: MQTTConnection?) {
        let outcome = stream.yield(message)
        if outcome.wakeConsumer { streamsToWake.append(stream) }
        if outcome.pauseReading {
            pausedStreams.insert(stream.id)
            if let connection { pauseReading(connection) }
        }
    }

    func pauseReading(_ connection: MQTTConnection) {
        guard !connection.readPaused else { return }
        connection.readPaused = true
        _ = connection.channel.setOption(.autoRead, value: false)
    }

    /// Buffers a message no stream matched (see ``UnroutedMessages``); whether to acknowledge it now.
    private func keepUnrouted(_ message: MQTTMessage, ack: UnroutedMessages.DeferredAck?) -> Bool {
        switch unrouted.add(message, ack: ack) {
        case .bufferedAcknowledgeNow:
            logger.trace("no subscription for \(message.topic) yet: buffered")
            return true
        case .bufferedAcknowledgeLater:
            logger.debug("no subscription for \(message.topic) yet: buffered, acknowledgement withheld")
            return false
        case .dropped:
            logger.debug("no subscription for \(message.topic): dropped")
            return true
        }
    }

    /// Sends acknowledgements withheld for unrouted messages that a subscription has now taken (or that were
    /// dropped). A PUBACK is only valid on the connection its PUBLISH came on; the broker resends otherwise.
    private func sendDeferredAcks(_ entries: [UnroutedMessages.Entry]) {
        guard let connection, connection.established, !connection.closing else { return }
        for entry in entries {
            switch entry.deferredAck {
            case .puback(let id, let connectionID) where connectionID == connection.id:
                try? send(.puback(MQTTPubAck(packetIdentifier: id)), on: connection)
            case .pubrec(let id):
                try? send(.pubrec(MQTTPubAck(packetIdentifier: id)), on: connection)
            case .puback, nil:
                break
            }
        }
    }

    /// The end of one socket read: wakes each consumer that waited for messages once, however many arrived.
    func readComplete() {
        guard !streamsToWake.isEmpty else { return }
        let streams = streamsToWake
        streamsToWake.removeAll(keepingCapacity: true)
        for stream in streams { stream.wakeConsumer() }
    }

    func streamDrained(_ id: Int) {
        pausedStreams.remove(id)
        guard pausedStreams.isEmpty, let connection, connection.readPaused else { return }
        connection.readPaused = false
        connection.pingOutstanding = false
        _ = connection.channel.setOption(.autoRead, value: true)
        connection.channel.read()
    }

    func addStream(filters: [String], subscriptions: [MQTTSubscription], codes: [MQTTReasonCode]) -> MQTTMessageStream {
        nextStreamID += 1
        let box = StreamBox(
            id: nextStreamID, topicFilters: filters, capacity: configuration.subscriptionBufferCapacity
        ) { [loop] id in
            loop.execute { self.streamDrained(id) }
        }
        streams[box.id] = box
        for subscription in subscriptions {
            activeSubscriptions.removeAll { $0.topicFilter.utf8.elementsEqual(subscription.topicFilter.utf8) }
            activeSubscriptions.append(subscription)
        }
        // What arrived before this subscription existed (a resumed session's backlog) goes first, in order.
        unrouted.subscribed(filters)
        let backlog = unrouted.take(where: box.matches)
        for entry in backlog { hand(entry.message, to: box, on: connection) }
        sendDeferredAcks(backlog)
        return MQTTMessageStream(topicFilters: filters, grantedReasonCodes: codes, box: box)
    }

    func removeFilters(_ filters: [String]) {
        sendDeferredAcks(unrouted.unsubscribed(filters))
        activeSubscriptions.removeAll { subscription in
            filters.contains { $0.utf8.elementsEqual(subscription.topicFilter.utf8) }
        }
        for (id, stream) in streams
        where stream.topicFilters.allSatisfy({ filter in filters.contains { $0.utf8.elementsEqual(filter.utf8) } }) {
            streams.removeValue(forKey: id)
            stream.finish()
            streamDrained(id)
        }
    }
}

import NIOCore

/// Packets from the broker: dispatch, incoming application messages (topic aliases, the QoS 1/2 receive flows,
/// routing to the subscription streams and the unrouted buffer), SUBSCRIBE/UNSUBSCRIBE, and read pausing.
extension ClientStateMachine {
    /// A packet arrived on connection `id`.
    mutating func received(_ packet: MQTTPacket, connectionID id: Int, _ actions: inout Actions) {
        guard let connection, connection.id == id, !connection.closing else { return }
        guard connection.established else {
            if case .connack(let connack) = packet {
                handleConnAck(connack, &actions)
            } else {
                protocolViolation(.protocolError("\(packet.type) before CONNACK"), id: id, &actions)
            }
            return
        }
        switch packet {
        case .publish(let publish):
            handleIncomingPublish(publish, &actions)
        case .puback(let ack):
            handlePubAck(ack, &actions)
        case .pubrec(let ack):
            handlePubRec(ack, &actions)
        case .pubrel(let ack):
            let known = incomingQoS2.remove(ack.packetIdentifier) != nil
            if known && persistsSession {
                actions.append(.persist(.incomingReleased(packetIdentifier: ack.packetIdentifier)))
            }
            actions.append(
                .send(
                    .pubcomp(
                        MQTTPubAck(packetIdentifier: ack.packetIdentifier, reasonCode: known ? .success : notFoundCode))
                )
            )
        case .pubcomp(let ack):
            handlePubComp(ack, &actions)
        case .suback(let suback):
            handleSubAck(suback, &actions)
        case .unsuback(let unsuback):
            actions.append(.cancelRequestTimer(unsuback.packetIdentifier))
            guard case .unsubscribe(_, let token) = requests.removeValue(forKey: unsuback.packetIdentifier) else {
                protocolViolation(.protocolError("UNSUBACK for unknown packet id"), id: id, &actions)
                return
            }
            if let token { actions.append(.succeedUnsubscribe(token, unsuback)) }
        case .pingresp:
            self.connection?.pingOutstanding = false
        case .disconnect(let disconnect):
            self.connection?.lastError = .client(
                .connectionClosed, disconnect.reasonCode,
                "DISCONNECT from the broker: \(disconnect.reasonCode)"
                    + (disconnect.properties.reasonString.map { " " + $0 } ?? ""))
            self.connection?.closing = true
            actions.append(.close)
        case .connect, .connack, .subscribe, .unsubscribe, .pingreq, .auth:
            protocolViolation(.protocolError("unexpected \(packet.type) from the broker"), id: id, &actions)
        }
    }

    // MARK: - Incoming messages

    /// Resolves the topic alias, then delivers and acknowledges by QoS. A message is acknowledged only once a
    /// stream holds it or the bounded unrouted buffer does.
    private mutating func handleIncomingPublish(_ publish: MQTTPublish, _ actions: inout Actions) {
        guard let connection else { return }
        var topic = publish.topic
        var properties = publish.properties
        if let alias = properties.topicAlias {
            guard connection.version == .v5, alias > 0, alias <= configuration.topicAliasMaximum else {
                protocolViolation(
                    MQTTError(.protocolError, reasonCode: .topicAliasInvalid, "topic alias \(alias) out of range"),
                    id: connection.id, &actions)
                return
            }
            if topic.isEmpty {
                guard let known = connection.incomingAliases[alias] else {
                    protocolViolation(
                        MQTTError(.protocolError, reasonCode: .protocolError, "unknown topic alias \(alias)"),
                        id: connection.id, &actions)
                    return
                }
                topic = known
            } else {
                self.connection?.incomingAliases[alias] = topic
            }
            properties.topicAlias = nil
        } else if topic.isEmpty {
            protocolViolation(.protocolError("PUBLISH with an empty topic and no alias"), id: connection.id, &actions)
            return
        }
        let message = MQTTMessage(
            topic: topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, properties: properties,
            packetIdentifier: publish.packetIdentifier)
        switch publish.qos {
        case .atMostOnce:
            if !deliver(message, ack: nil, &actions) { _ = keepUnrouted(message, ack: nil, &actions) }
        case .atLeastOnce:
            guard let id = publish.packetIdentifier else { return }
            let ack = UnroutedMessages.DeferredAck.puback(packetIdentifier: id, connectionID: connection.id)
            if deliver(message, ack: ack, &actions) {
                actions.append(.acknowledge(ack))
            } else if keepUnrouted(message, ack: ack, &actions) {
                actions.append(.send(.puback(MQTTPubAck(packetIdentifier: id))))
            }
        case .exactlyOnce:
            guard let id = publish.packetIdentifier else { return }
            // Exactly once: deliver on the first PUBLISH with this id; a resend (DUP) before PUBREL is not
            // delivered again.
            if incomingQoS2.insert(id).inserted {
                if persistsSession { actions.append(.persist(.incomingReceived(packetIdentifier: id))) }
                let ack = UnroutedMessages.DeferredAck.pubrec(packetIdentifier: id)
                if deliver(message, ack: ack, &actions) {
                    actions.append(.acknowledge(ack))
                } else if keepUnrouted(message, ack: ack, &actions) {
                    actions.append(.send(.pubrec(MQTTPubAck(packetIdentifier: id))))
                }
            } else if !unrouted.withholdsPubrec(id) && !withheldPubrecs.contains(id) {
                actions.append(.send(.pubrec(MQTTPubAck(packetIdentifier: id))))
            }
        }
    }

    /// A PUBLISH larger than ``MQTTClientConfiguration/maximumPacketSize`` that the broker sent anyway: skipped with
    /// an error in the log, and acknowledged with a failure code (MQTT 5) so that the broker does not resend it.
    mutating func skippedOversizedPublish(
        topic: String, qos: MQTTQoS, packetIdentifier: UInt16?, size: Int, connectionID: Int,
        _ actions: inout Actions
    ) {
        guard let connection, connection.id == connectionID, connection.established, !connection.closing else { return }
        oversizedMessagesSkipped += 1
        actions.append(
            .log(
                .error,
                """
                skipped a message larger than the maximum packet size (\(size) bytes, maximum \
                \(configuration.maximumPacketSize)) on \(topic.prefix(128))
                """))
        guard let id = packetIdentifier else { return }
        let code: MQTTReasonCode = connection.version == .v5 ? .unspecifiedError : .success
        switch qos {
        case .atMostOnce: break
        case .atLeastOnce: actions.append(.send(.puback(MQTTPubAck(packetIdentifier: id, reasonCode: code))))
        case .exactlyOnce:
            // MQTT 3.1.1 has no failure PUBREC: the flow continues to PUBCOMP without a delivery.
            if connection.version == .v311, incomingQoS2.insert(id).inserted, persistsSession {
                actions.append(.persist(.incomingReceived(packetIdentifier: id)))
            }
            actions.append(.send(.pubrec(MQTTPubAck(packetIdentifier: id, reasonCode: code))))
        }
    }

    /// Hands `message` to every matching stream; `false` if none matched. `ack` is what acknowledges it (nil at
    /// QoS 0): the caller follows a delivery with ``Action/acknowledge(_:)``.
    private func deliver(_ message: MQTTMessage, ack: UnroutedMessages.DeferredAck?, _ actions: inout Actions) -> Bool {
        var delivered = false
        for route in routes where route.matches(message.topic) {
            delivered = true
            actions.append(.deliver(message, streamID: route.id, ack: ack))
        }
        return delivered
    }

    /// The driver held the message just delivered in a stream that isolates its slow consumer and did not send
    /// `ack`: a resend of a withheld QoS 2 message must not be acknowledged before the consumer takes it.
    mutating func acknowledgementWithheld(_ ack: UnroutedMessages.DeferredAck) {
        if case .pubrec(let id) = ack { withheldPubrecs.insert(id) }
    }

    /// The consumers took the messages whose acknowledgements were withheld (or their stream was discarded): send
    /// those that are still valid. A PUBACK belongs to the connection its PUBLISH came on; a PUBREC to the session,
    /// and only while the session still waits for it.
    mutating func withheldAcknowledgementsTaken(_ acks: [UnroutedMessages.DeferredAck], _ actions: inout Actions) {
        var valid: [UnroutedMessages.DeferredAck] = []
        for ack in acks {
            if case .pubrec(let id) = ack, withheldPubrecs.remove(id) == nil { continue }
            valid.append(ack)
        }
        sendDeferredAcks(valid, &actions)
    }

    /// Buffers a message no stream matched (see ``UnroutedMessages``); whether to acknowledge it now.
    private mutating func keepUnrouted(
        _ message: MQTTMessage, ack: UnroutedMessages.DeferredAck?, _ actions: inout Actions
    ) -> Bool {
        switch unrouted.add(message, ack: ack) {
        case .bufferedAcknowledgeNow:
            return true
        case .bufferedAcknowledgeLater:
            actions.append(
                .log(.debug, "no subscription for \(message.topic) yet: buffered, acknowledgement withheld"))
            return false
        case .dropped:
            actions.append(.log(.debug, "no subscription for \(message.topic): dropped"))
            return true
        }
    }

    /// Sends acknowledgements withheld for unrouted messages that a subscription has now taken (or that were
    /// dropped). A PUBACK is only valid on the connection its PUBLISH came on; the broker resends otherwise.
    private func sendDeferredAcks(_ entries: [UnroutedMessages.Entry], _ actions: inout Actions) {
        sendDeferredAcks(entries.compactMap(\.deferredAck), &actions)
    }

    private func sendDeferredAcks(_ acks: [UnroutedMessages.DeferredAck], _ actions: inout Actions) {
        guard isUsable, let connection, !acks.isEmpty else { return }
        for ack in acks {
            switch ack {
            case .puback(let id, let connectionID) where connectionID == connection.id:
                actions.append(.send(.puback(MQTTPubAck(packetIdentifier: id))))
            case .pubrec(let id):
                actions.append(.send(.pubrec(MQTTPubAck(packetIdentifier: id))))
            case .puback:
                break
            }
        }
    }

    // MARK: - Read pausing

    /// Stream `id`'s buffer is full: stop reading until its consumer drains it.
    mutating func streamFull(_ id: Int, _ actions: inout Actions) {
        guard routes.contains(where: { $0.id == id }) else { return }
        pausedStreams.insert(id)
        guard var connection, !connection.readPaused else { return }
        connection.readPaused = true
        self.connection = connection
        actions.append(.pauseReading)
    }

    /// Stream `id`'s consumer drained it to the low-water mark (or the stream ended).
    mutating func streamDrained(_ id: Int, _ actions: inout Actions) {
        pausedStreams.remove(id)
        guard pausedStreams.isEmpty, var connection, connection.readPaused else { return }
        connection.readPaused = false
        connection.pingOutstanding = false
        self.connection = connection
        actions.append(.resumeReading)
    }

    // MARK: - Subscribing

    /// A SUBSCRIBE or UNSUBSCRIBE the application asked for; `packet` builds it for the packet id allocated here.
    mutating func request(_ request: Request, packet: (UInt16) -> MQTTPacket, _ actions: inout Actions) {
        let token: RequestToken? =
            switch request {
            case .subscribe(_, let token): token
            case .unsubscribe(_, let token): token
            }
        guard phase != .closed else {
            if let token {
                actions.append(
                    .failRequest(token, closeError ?? .client(.clientShutDown, .unspecifiedError, "closed")))
            }
            return
        }
        guard isUsable else {
            if let token {
                actions.append(.failRequest(token, .client(.notConnected, .unspecifiedError, "not connected")))
            }
            return
        }
        let id = allocatePacketID()
        requests[id] = request
        actions.append(.sendRequest(packet(id), packetIdentifier: id))
        actions.append(.startRequestTimer(id))
    }

    /// The driver could not encode the SUBSCRIBE/UNSUBSCRIBE `packetIdentifier` (too large for the broker).
    mutating func requestNotSent(packetIdentifier: UInt16, error: MQTTError, _ actions: inout Actions) {
        guard let request = requests.removeValue(forKey: packetIdentifier) else { return }
        actions.append(.cancelRequestTimer(packetIdentifier))
        fail(request, error, &actions)
    }

    /// No SUBACK/UNSUBACK within the request timeout.
    mutating func requestTimedOut(packetIdentifier: UInt16, _ actions: inout Actions) {
        guard let request = requests.removeValue(forKey: packetIdentifier) else { return }
        fail(request, .client(.timeout, .unspecifiedError, "no acknowledgement in time"), &actions)
    }

    /// Fails the caller of `request` (a resubscribe has none).
    func fail(_ request: Request, _ error: MQTTError, _ actions: inout Actions) {
        switch request {
        case .subscribe(_, let token): if let token { actions.append(.failRequest(token, error)) }
        case .unsubscribe(_, let token): if let token { actions.append(.failRequest(token, error)) }
        }
    }

    private mutating func handleSubAck(_ suback: MQTTSubAck, _ actions: inout Actions) {
        actions.append(.cancelRequestTimer(suback.packetIdentifier))
        guard case .subscribe(let subscriptions, let token) = requests.removeValue(forKey: suback.packetIdentifier)
        else {
            protocolViolation(.protocolError("SUBACK for unknown packet id"), id: connection?.id ?? 0, &actions)
            return
        }
        guard let token else {
            for (subscription, code) in zip(subscriptions, suback.reasonCodes) where code.isFailure {
                actions.append(.log(.warning, "resubscribe to \(subscription.topicFilter) refused: \(code)"))
            }
            return
        }
        // The stream is opened now, before any PUBLISH that follows the SUBACK (retained messages often arrive in
        // the same read).
        var streamID: Int?
        if !suback.reasonCodes.contains(where: \.isFailure) {
            streamID = addRoute(subscriptions, &actions)
        }
        actions.append(.succeedSubscribe(token, suback, streamID: streamID))
    }

    /// Opens a stream for `subscriptions` and hands it what arrived before it existed (a resumed session's
    /// backlog), in order.
    private mutating func addRoute(_ subscriptions: [MQTTSubscription], _ actions: inout Actions) -> Int {
        nextStreamID += 1
        let filters = subscriptions.map(\.topicFilter)
        let route = Route(id: nextStreamID, filters: filters, matcher: SubscriptionMatcher(filters: filters))
        routes.append(route)
        actions.append(.openStream(id: route.id, filters: filters))
        for subscription in subscriptions {
            activeSubscriptions.removeAll { $0.topicFilter.utf8.elementsEqual(subscription.topicFilter.utf8) }
            activeSubscriptions.append(subscription)
        }
        unrouted.subscribed(filters)
        let backlog = unrouted.take(where: route.matches)
        for entry in backlog { actions.append(.deliver(entry.message, streamID: route.id)) }
        sendDeferredAcks(backlog, &actions)
        return route.id
    }

    /// The broker acknowledged UNSUBSCRIBE of `filters`: streams whose filters are all gone end.
    mutating func removeFilters(_ filters: [String], _ actions: inout Actions) {
        sendDeferredAcks(unrouted.unsubscribed(filters), &actions)
        activeSubscriptions.removeAll { subscription in
            filters.contains { $0.utf8.elementsEqual(subscription.topicFilter.utf8) }
        }
        let ending = routes.filter { route in
            route.filters.allSatisfy { filter in filters.contains { $0.utf8.elementsEqual(filter.utf8) } }
        }
        routes.removeAll { route in ending.contains { $0.id == route.id } }
        for route in ending {
            actions.append(.finishStream(id: route.id, error: nil))
            streamDrained(route.id, &actions)
        }
    }

    /// Every reference to stream `id` (the stream value, its copies and iterators) is gone: nobody will read it. It
    /// ends, and its filters that no other stream uses are unsubscribed at the broker, so that messages for it
    /// neither pile up nor hold reading paused for the other subscriptions.
    ///
    /// - Parameter token: Completed by the UNSUBACK of that unsubscribe (``withSubscription`` waits for it).
    /// - Returns: Whether an UNSUBSCRIBE was requested (and `token` taken); `false` when the stream had already ended
    ///   or every one of its filters is still used by another stream.
    @discardableResult
    mutating func streamAbandoned(_ id: Int, token: RequestToken? = nil, _ actions: inout Actions) -> Bool {
        guard let index = routes.firstIndex(where: { $0.id == id }) else { return false }
        let route = routes.remove(at: index)
        actions.append(.finishStream(id: id, error: nil, discard: true))
        streamDrained(id, &actions)
        var orphaned: [String] = []
        for filter in route.filters where !orphaned.contains(where: { $0.utf8.elementsEqual(filter.utf8) }) {
            let used = routes.contains { other in other.filters.contains { $0.utf8.elementsEqual(filter.utf8) } }
            if !used { orphaned.append(filter) }
        }
        guard !orphaned.isEmpty else { return false }
        activeSubscriptions.removeAll { subscription in
            orphaned.contains { $0.utf8.elementsEqual(subscription.topicFilter.utf8) }
        }
        // Messages already on their way for these filters are acknowledged and dropped, not kept as unrouted.
        sendDeferredAcks(unrouted.unsubscribed(orphaned), &actions)
        actions.append(.log(.debug, "subscription to \(orphaned) abandoned by its reader: unsubscribing"))
        request(
            .unsubscribe(orphaned, token),
            packet: { .unsubscribe(MQTTUnsubscribe(packetIdentifier: $0, topicFilters: orphaned)) }, &actions)
        return true
    }
}

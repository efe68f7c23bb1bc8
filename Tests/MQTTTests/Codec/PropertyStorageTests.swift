import MQTT
import NIOCore
import Testing

/// `MQTTProperties` keeps its values in one shared copy-on-write box: the struct stays one reference wide (every
/// message and packet carries one, and the client copies them several times per message), and it keeps value
/// semantics.
@Suite struct PropertyStorageTests {
    @Test func aPropertySetIsOneReferenceWide() {
        #expect(MemoryLayout<MQTTProperties>.size == MemoryLayout<Int>.size)
        // A received message, which carries properties, stays small to copy.
        #expect(MemoryLayout<MQTTMessage>.size <= 64)
    }

    @Test func aCopyIsIndependentOfTheOriginal() {
        var original = MQTTProperties()
        original.contentType = "text/plain"
        original.userProperties = [MQTTUserProperty(name: "k", value: "v")]
        var copy = original
        copy.contentType = "application/json"
        copy.userProperties.append(MQTTUserProperty(name: "k2", value: "v2"))
        copy.subscriptionIdentifiers = [7]
        #expect(original.contentType == "text/plain")
        #expect(original.userProperties == [MQTTUserProperty(name: "k", value: "v")])
        #expect(original.subscriptionIdentifiers.isEmpty)
        #expect(copy.contentType == "application/json")
        #expect(copy.userProperties.count == 2)
        #expect(copy.subscriptionIdentifiers == [7])
        #expect(original != copy)
    }

    @Test func setsThatClearEveryPropertyCompareEqualToAnEmptySet() {
        var properties = MQTTProperties()
        #expect(properties.isEmpty)
        properties.messageExpiryInterval = 60
        #expect(!properties.isEmpty)
        #expect(properties != MQTTProperties())
        properties.messageExpiryInterval = nil
        #expect(properties.isEmpty)
        #expect(properties == MQTTProperties())
        #expect(properties.hashValue == MQTTProperties().hashValue)
        #expect(Set([properties, MQTTProperties()]).count == 1)
    }

    @Test func everyPropertyReadsBackWhatWasSet() {
        var properties = MQTTProperties()
        properties.payloadFormatIndicator = .utf8
        properties.messageExpiryInterval = 1
        properties.contentType = "c"
        properties.responseTopic = "r/t"
        properties.correlationData = [1, 2]
        properties.subscriptionIdentifiers = [3]
        properties.sessionExpiryInterval = 4
        properties.assignedClientIdentifier = "a"
        properties.serverKeepAlive = 5
        properties.authenticationMethod = "m"
        properties.authenticationData = [6]
        properties.requestProblemInformation = true
        properties.willDelayInterval = 7
        properties.requestResponseInformation = false
        properties.responseInformation = "i"
        properties.serverReference = "s"
        properties.reasonString = "x"
        properties.receiveMaximum = 8
        properties.topicAliasMaximum = 9
        properties.topicAlias = 10
        properties.maximumQoS = .atLeastOnce
        properties.retainAvailable = true
        properties.userProperties = [MQTTUserProperty(name: "n", value: "v")]
        properties.maximumPacketSize = 11
        properties.wildcardSubscriptionAvailable = false
        properties.subscriptionIdentifierAvailable = true
        properties.sharedSubscriptionAvailable = false
        #expect(properties.payloadFormatIndicator == .utf8)
        #expect(properties.messageExpiryInterval == 1)
        #expect(properties.contentType == "c")
        #expect(properties.responseTopic == "r/t")
        #expect(properties.correlationData == [1, 2])
        #expect(properties.subscriptionIdentifiers == [3])
        #expect(properties.sessionExpiryInterval == 4)
        #expect(properties.assignedClientIdentifier == "a")
        #expect(properties.serverKeepAlive == 5)
        #expect(properties.authenticationMethod == "m")
        #expect(properties.authenticationData == [6])
        #expect(properties.requestProblemInformation == true)
        #expect(properties.willDelayInterval == 7)
        #expect(properties.requestResponseInformation == false)
        #expect(properties.responseInformation == "i")
        #expect(properties.serverReference == "s")
        #expect(properties.reasonString == "x")
        #expect(properties.receiveMaximum == 8)
        #expect(properties.topicAliasMaximum == 9)
        #expect(properties.topicAlias == 10)
        #expect(properties.maximumQoS == .atLeastOnce)
        #expect(properties.retainAvailable == true)
        #expect(properties.userProperties == [MQTTUserProperty(name: "n", value: "v")])
        #expect(properties.maximumPacketSize == 11)
        #expect(properties.wildcardSubscriptionAvailable == false)
        #expect(properties.subscriptionIdentifierAvailable == true)
        #expect(properties.sharedSubscriptionAvailable == false)
    }
}

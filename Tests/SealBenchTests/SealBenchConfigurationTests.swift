import SealBench
import Testing

@Suite("SealBench configuration and payload")
struct SealBenchConfigurationTests {
    @Test(arguments: [
        BenchConfiguration(qos: 3),
        BenchConfiguration(sizes: [0]),
        BenchConfiguration(sizes: []),
        BenchConfiguration(sizes: [19]),
        BenchConfiguration(modes: []),
        BenchConfiguration(modes: [.plaintext, .plaintext]),
        BenchConfiguration(publishers: 0),
        BenchConfiguration(publishers: BenchConfiguration.maximumPublishers + 1),
        BenchConfiguration(load: .rate(0)),
        BenchConfiguration(load: .maximum(window: 0)),
        BenchConfiguration(stop: .count(0)),
        BenchConfiguration(stop: .duration(.zero)),
        BenchConfiguration(stop: .duration(.seconds(601))),
        BenchConfiguration(sharedGroup: "a/b"),
        BenchConfiguration(broker: .external(.init(host: "127.0.0.1", port: 0))),
        BenchConfiguration(broker: .external(.init(host: "127.0.0.1", caFile: "ca.pem"))),
    ])
    func invalidConfigurationsAreRefused(_ configuration: BenchConfiguration) {
        #expect(throws: BenchError.self) { try configuration.validate() }
    }

    @Test func theDefaultConfigurationIsValid() throws {
        try BenchConfiguration().validate()
        try BenchConfiguration(qos: 2, sizes: [20, 1024], load: .rate(1000), stop: .duration(.seconds(1))).validate()
        try BenchConfiguration(publishers: BenchConfiguration.maximumPublishers).validate()
    }

    @Test func payloadHeaderRoundTrips() throws {
        let header = BenchPayload.Header(publisher: 3, lane: 7, sequence: 123_456_789, sentNanoseconds: 987_654_321)
        let payload = BenchPayload.make(size: 64, header: header)
        #expect(payload.count == 64)
        let read = payload.withUnsafeBytes { BenchPayload.read($0) }
        #expect(read == header)
        #expect([UInt8](repeating: 0, count: 19).withUnsafeBytes { BenchPayload.read($0) } == nil)
    }

    @Test func modeNamesParse() {
        for mode in BenchMode.allCases { #expect(BenchMode(name: mode.rawValue) == mode) }
        #expect(BenchMode(name: "sign") == .sign)
        #expect(BenchMode(name: "encrypt+sign") == .encryptSign)
        #expect(BenchMode(name: "nope") == nil)
    }
}

// libFuzzer target for the MQTT packet decoder. Build and run with `Scripts/fuzz-mqtt SECONDS`.
//
// Every input is decoded as a stream of packets for MQTT 3.1.1 and 5.0, with the protocol maximum
// packet size and with a small one, whole and split in two at an input-dependent offset. Errors are
// expected; crashes, hangs, leaks (AddressSanitizer) and broken invariants are findings:
// - decoding whole and split must give the same packets and the same error,
// - every decoded packet must re-encode, and decoding that must give the same packet back.
import CFuzzer
import MQTT
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

private struct Outcome: Equatable {
    var packets: [MQTTPacket] = []
    var error: MQTTError?
}

private func decodeStream(
    _ bytes: UnsafeBufferPointer<UInt8>,
    version: MQTTProtocolVersion,
    maxPacketSize: Int,
    split: Int?
) -> Outcome {
    var outcome = Outcome()
    var decoder = MQTTPacketDecoder(version: version, maxPacketSize: maxPacketSize)
    var buffer = ByteBuffer()
    var chunks: [UnsafeBufferPointer<UInt8>.SubSequence] = [bytes[...]]
    if let split {
        chunks = [bytes[..<split], bytes[split...]]
    }
    for chunk in chunks {
        buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: chunk)))
        do {
            while let packet = try decoder.decode(buffer: &buffer) {
                outcome.packets.append(packet)
            }
        } catch let error as MQTTError {
            outcome.error = error
            return outcome
        } catch {
            fatalError("decoder threw a non-MQTTError: \(error)")
        }
    }
    return outcome
}

private func checkRoundTrip(_ packet: MQTTPacket, version: MQTTProtocolVersion) {
    var encoded = ByteBuffer()
    let effective: MQTTProtocolVersion
    if case .connect(let connect) = packet {
        effective = connect.protocolVersion
    } else {
        effective = version
    }
    do {
        try packet.encode(into: &encoded, version: effective)
    } catch {
        fatalError("decoded packet does not re-encode: \(packet) \(error)")
    }
    var decoder = MQTTPacketDecoder(version: version)
    do {
        guard let again = try decoder.decode(buffer: &encoded), encoded.readableBytes == 0 else {
            fatalError("re-encoded packet does not decode whole: \(packet)")
        }
        guard again == packet else {
            fatalError("round trip changed the packet: \(packet) -> \(again)")
        }
    } catch {
        fatalError("re-encoded packet fails to decode: \(packet) \(error)")
    }
}

/// Feeds one input to the decoder; libFuzzer calls it millions of times.
let fuzzOne: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    guard let data else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    for version in MQTTProtocolVersion.allCases {
        for maxPacketSize in [MQTTPacket.maximumPacketSize, 64] {
            let whole = decodeStream(bytes, version: version, maxPacketSize: maxPacketSize, split: nil)
            if size > 1 {
                let split = Int(bytes[0]) % size
                let parts = decodeStream(bytes, version: version, maxPacketSize: maxPacketSize, split: split)
                guard parts == whole else {
                    fatalError("split decoding differs from whole decoding")
                }
            }
            for packet in whole.packets {
                checkRoundTrip(packet, version: version)
            }
        }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))

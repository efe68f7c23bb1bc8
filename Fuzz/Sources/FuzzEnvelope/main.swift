// libFuzzer entry point: arbitrary bytes into `Opener.open`, for every suite and mode.
// Every input must open or be rejected with `SealError` code `.rejected`; anything else — a crash, a trap,
// a leak, another error code — is a finding. Run with `Scripts/fuzz-envelope SECONDS`, which seeds the
// corpus with the envelopes of Specs/vectors/envelope-v1.json: the keys, topic and clock here are the
// vectors' own, so mutations of valid envelopes reach the AEAD, MAC, signature and replay paths.
import CFuzzer
import Seal

#if canImport(Glibc)
import Glibc
#endif

/// What every input is opened with. Static storage, so LeakSanitizer sees it as reachable at exit.
enum Target {
    /// The receiver keys of Specs/vectors/envelope-v1.json.
    static let keys: KeySet = {
        let signer = try! SigningKey(id: 0x0A0A, seed: Array(0xA0...0xBF))
        return KeySet(
            keys: [
                try! SealKey(id: 0x0101, suite: .xchacha20poly1305, bytes: Array(0x00...0x1F)),
                try! SealKey(id: 0x0202, suite: .aes256gcm, bytes: Array(0x20...0x3F)),
                try! SealKey(id: 0x0303, suite: .hmacSHA256, bytes: Array(0x40...0x5F)),
            ],
            signers: [signer.verifyingKey])
    }()

    /// The vectors' receiver clock (one second after they were sealed).
    static let opener = Opener(keys: keys, replayGuard: ReplayGuard(clock: { 1_767_225_601_000 }))

    /// The vectors' topic.
    static let topic = "plant/line-4/press-17/telemetry"
}

/// Feeds one input to the opener. The retain bit of the first byte also selects a retained delivery, and
/// an odd length adds an application context, so both binding paths are exercised.
let fuzzOne: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let retained = (bytes.first ?? 0) & 0x08 != 0
    let context: [UInt8]? = size % 2 == 1 ? [1, 2, 3] : nil
    do throws(SealError) {
        _ = try Target.opener.open(Array(bytes), topic: Target.topic, context: context, retained: retained)
    } catch {
        if error.code != SealError.Code.rejected {
            fatalError("unexpected error code \(error.code) for untrusted input: \(error)")
        }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))

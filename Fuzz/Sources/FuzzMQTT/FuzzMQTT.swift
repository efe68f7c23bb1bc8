/// libFuzzer entry point (placeholder until the owning issue fills it in).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = UnsafeBufferPointer(start: data, count: size)
    return 0
}

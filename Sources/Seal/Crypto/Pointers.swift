/// Small helpers to hand Swift buffers to C: C wants non-null `unsigned char *` even for empty input.
nonisolated(unsafe) private let emptyByte: UnsafeMutablePointer<UInt8> = {
    let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return pointer
}()

extension UnsafeRawBufferPointer {
    /// The base address typed as bytes, never nil (a valid dummy byte for an empty buffer).
    @inline(__always)
    var bytes: UnsafePointer<UInt8> {
        guard let base = baseAddress else { return UnsafePointer(emptyByte) }
        return base.assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The base address typed as bytes, never nil (a valid dummy byte for an empty buffer).
    @inline(__always)
    var mutableBytes: UnsafeMutablePointer<UInt8> {
        guard let base = baseAddress else { return emptyByte }
        return base.assumingMemoryBound(to: UInt8.self)
    }
}

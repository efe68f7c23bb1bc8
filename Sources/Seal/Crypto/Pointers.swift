/// Small helpers to hand Swift buffers to C (package-wide: the keyring and the benchmarks' raw calls use them too): C wants non-null `unsigned char *` even for empty input.
@usableFromInline
nonisolated(unsafe) package let emptyByte: UnsafeMutablePointer<UInt8> = {
    let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return pointer
}()

extension UnsafeRawBufferPointer {
    /// The base address typed as bytes, never nil (a valid dummy byte for an empty buffer).
    @inlinable @inline(__always)
    package var bytes: UnsafePointer<UInt8> {
        guard let base = baseAddress else { return UnsafePointer(emptyByte) }
        return base.assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The base address typed as bytes, never nil (a valid dummy byte for an empty buffer).
    @inlinable @inline(__always)
    package var mutableBytes: UnsafeMutablePointer<UInt8> {
        guard let base = baseAddress else { return emptyByte }
        return base.assumingMemoryBound(to: UInt8.self)
    }
}

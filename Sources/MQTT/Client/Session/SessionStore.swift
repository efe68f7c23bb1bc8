import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `close(2)`, spelled so that it does not collide with ``SessionStore/close()``.
private func closeDescriptor(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #elseif canImport(Darwin)
    _ = Darwin.close(descriptor)
    #endif
}

/// The on-disk session of one client: an append-only log (``SessionLogFormat``) in the store's folder, a lock that
/// keeps a second process out, and the live state (for compaction). Confined to the client's event loop, like
/// ``ClientCore``, which alone calls it; its writes are synchronous system calls on that loop.
///
/// Records from the state machine are buffered and written by ``commit()``, which the driver calls before every
/// socket flush: a record always reaches the file before the packet that depends on it reaches the broker.
/// ``accept(_:)`` writes at once, because its caller must learn whether the messages were taken.
final class SessionStore: @unchecked Sendable {
    let options: MQTTSessionStoreOptions
    let clientID: String
    private let logPath: String
    private var fd: Int32
    private let lockFD: Int32
    private let headerLength: Int
    /// Bytes of the log known to be on file (header included): a failed write is cut back to here.
    private var committedLength: Int
    /// Records not written yet.
    private var buffered = ByteBuffer()
    /// The state the log describes, kept for compaction.
    private var live = RecoveredSession()
    /// The log size at which compaction is considered next.
    private var nextCompactionCheck: Int
    /// The error of the last failed write; new messages are refused while it stands.
    private(set) var failure: MQTTError?
    /// Whether opening dropped a torn tail, and how many compactions ran (for tests and the log).
    private(set) var droppedTornTail = false
    private(set) var compactions = 0

    /// Opens (or creates) the store for `clientID` and replays its log.
    ///
    /// - Throws: ``MQTTError/Code/sessionStoreFailed`` (folder or file unusable, locked by another process, a damaged
    ///   header), ``MQTTError/Code/sessionStoreMismatch`` (the store belongs to another client id).
    init(options: MQTTSessionStoreOptions, clientID: String) throws(MQTTError) {
        self.options = options
        self.clientID = clientID
        let directory = options.directory
        logPath = directory + "/session.log"
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw Self.failure("cannot create the session store folder \(directory)", errno: errno)
        }
        lockFD = open(directory + "/session.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw Self.failure("cannot open the session store in \(directory)", errno: errno) }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            closeDescriptor(lockFD)
            throw code == EWOULDBLOCK
                ? MQTTError.client(
                    .sessionStoreFailed, .unspecifiedError,
                    "the session store \(directory) is in use by another process")
                : Self.failure("cannot lock the session store \(directory)", errno: code)
        }
        let fd = open(logPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            closeDescriptor(lockFD)
            throw Self.failure("cannot open \(logPath)", errno: code)
        }
        self.fd = fd
        var recovered = RecoveredSession()
        var torn = false
        let headerLength: Int
        do throws(MQTTError) {
            let bytes = try Self.readAll(fd, path: logPath)
            switch SessionLogFormat.readHeader(bytes) {
            case .incomplete:
                // A store whose creation was cut short holds nothing: start it again. Only the start of this
                // client's own header counts as that; a short file with other bytes is damaged.
                let header = SessionLogFormat.header(clientID: clientID)
                guard header.readableBytesView.starts(with: bytes.readableBytesView) else {
                    throw MQTTError.client(
                        .sessionStoreFailed, .unspecifiedError, "\(logPath): the session store's header is damaged")
                }
                guard ftruncate(fd, 0) == 0 else { throw Self.failure("cannot reset \(logPath)", errno: errno) }
                try Self.write(header, to: fd, at: 0, path: logPath)
                try Self.sync(fd, path: logPath)
                headerLength = header.readableBytes
            case .invalid(let why):
                throw MQTTError.client(.sessionStoreFailed, .unspecifiedError, "\(logPath): \(why)")
            case .valid(let owner, let length):
                guard Array(owner.utf8) == Array(clientID.utf8) else {
                    throw MQTTError.client(
                        .sessionStoreMismatch, .unspecifiedError,
                        "the session store \(directory) belongs to client id \"\(owner)\", not \"\(clientID)\"")
                }
                headerLength = length
                let replay = SessionLogFormat.replay(bytes.getSlice(at: length, length: bytes.readableBytes - length)!)
                for record in replay.records { recovered.apply(record) }
                if replay.droppedTail {
                    torn = true
                    guard ftruncate(fd, off_t(length + replay.validLength)) == 0 else {
                        throw Self.failure("cannot cut the torn end off \(logPath)", errno: errno)
                    }
                    try Self.sync(fd, path: logPath)
                }
            }
        } catch {
            closeDescriptor(fd)
            closeDescriptor(lockFD)
            throw error
        }
        self.headerLength = headerLength
        let length = Int(lseek(fd, 0, SEEK_END))
        committedLength = length
        nextCompactionCheck = max(options.compactionThreshold, length * 2)
        live = recovered
        droppedTornTail = torn
    }

    deinit {
        close()
    }

    private var isClosed = false

    /// Closes the log and releases the lock; later writes fail with ``MQTTError/Code/clientShutDown``.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        closeDescriptor(fd)
        closeDescriptor(lockFD)
    }

    /// The state the log held when the store was opened, then as it changed.
    var session: RecoveredSession { live }

    // MARK: - Writing

    /// Stores QoS 1/2 messages the application handed over, with everything buffered before them, and returns
    /// their store keys. Nothing is stored if any write fails.
    ///
    /// - Throws: ``MQTTError/Code/sessionStoreFailed`` (a full disk, an I/O error): the messages were not accepted.
    func accept(_ publishes: [MQTTPublish]) throws(MQTTError) -> [UInt64] {
        let mark = buffered.writerIndex
        var keys: [UInt64] = []
        keys.reserveCapacity(publishes.count)
        var records: [SessionRecord] = []
        records.reserveCapacity(publishes.count)
        for (offset, publish) in publishes.enumerated() {
            let key = live.lastKey + UInt64(offset) + 1
            keys.append(key)
            let record = SessionRecord.accepted(key: key, StoredPublish(publish))
            SessionLogFormat.append(record, to: &buffered)
            records.append(record)
        }
        do throws(MQTTError) {
            try commit()
        } catch {
            buffered.moveWriterIndex(to: mark)
            throw error
        }
        for record in records { live.apply(record) }
        return keys
    }

    /// Buffers a record of the state machine (written by the next ``commit()``).
    func append(_ record: SessionRecord) {
        live.apply(record)
        SessionLogFormat.append(record, to: &buffered)
    }

    var hasBufferedRecords: Bool { buffered.readableBytes > 0 }

    /// Writes the buffered records (and, when ``MQTTSessionStoreOptions/Durability/synchronized``, flushes them to
    /// the disk). A failed write is cut back off the file and the records stay buffered for the next attempt.
    func commit() throws(MQTTError) {
        guard buffered.readableBytes > 0 else { return }
        guard !isClosed else {
            throw MQTTError.client(.clientShutDown, .unspecifiedError, "the session store was closed")
        }
        do throws(MQTTError) {
            try Self.write(buffered, to: fd, at: committedLength, path: logPath)
            if options.durability == .synchronized { try Self.sync(fd, path: logPath) }
        } catch {
            _ = ftruncate(fd, off_t(committedLength))
            failure = error
            throw error
        }
        committedLength += buffered.readableBytes
        buffered.clear()
        failure = nil
        if committedLength >= nextCompactionCheck { compactIfWorthIt() }
    }

    // MARK: - Compaction

    /// Rewrites the log with only the live records, when they are less than half of it: into a new file, flushed,
    /// then renamed over the old one (and the folder flushed), so a crash at any point leaves one complete log.
    private func compactIfWorthIt() {
        var snapshot = SessionLogFormat.header(clientID: clientID)
        for record in live.records { SessionLogFormat.append(record, to: &snapshot) }
        guard snapshot.readableBytes * 2 < committedLength else {
            nextCompactionCheck = committedLength * 2
            return
        }
        let temporary = logPath + ".new"
        let newFD = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard newFD >= 0 else { return }
        do throws(MQTTError) {
            try Self.write(snapshot, to: newFD, at: 0, path: temporary)
            try Self.sync(newFD, path: temporary)
            guard rename(temporary, logPath) == 0 else { throw Self.failure("cannot replace \(logPath)", errno: errno) }
            let folder = open(options.directory, O_RDONLY | O_CLOEXEC)
            if folder >= 0 {
                _ = fsync(folder)
                closeDescriptor(folder)
            }
        } catch {
            closeDescriptor(newFD)
            unlink(temporary)
            nextCompactionCheck = committedLength * 2
            return
        }
        closeDescriptor(fd)
        fd = newFD
        committedLength = snapshot.readableBytes
        nextCompactionCheck = max(options.compactionThreshold, committedLength * 2)
        compactions += 1
    }

    // MARK: - System calls

    private static func failure(_ what: String, errno code: Int32) -> MQTTError {
        let cause = code == ENOSPC ? "the disk is full" : String(cString: strerror(code))
        return .client(.sessionStoreFailed, .unspecifiedError, "\(what): \(cause)")
    }

    private static func readAll(_ fd: Int32, path: String) throws(MQTTError) -> ByteBuffer {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw failure("cannot read \(path)", errno: errno) }
        let size = Int(status.st_size)
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        while buffer.readableBytes < size {
            let offset = buffer.readableBytes
            var code: Int32 = 0
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size - offset) { pointer in
                let read = pread(fd, pointer.baseAddress, size - offset, off_t(offset))
                code = read < 0 ? errno : 0
                return max(read, 0)
            }
            if count == 0 {
                if code == EINTR { continue }
                if code != 0 { throw failure("cannot read \(path)", errno: code) }
                break
            }
        }
        return buffer
    }

    private static func write(_ buffer: ByteBuffer, to fd: Int32, at offset: Int, path: String) throws(MQTTError) {
        var written = 0
        let total = buffer.readableBytes
        while written < total {
            let result = buffer.withUnsafeReadableBytes { bytes in
                pwrite(fd, bytes.baseAddress! + written, total - written, off_t(offset + written))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write the session store \(path)", errno: errno)
            }
            if result == 0 { throw failure("cannot write the session store \(path)", errno: ENOSPC) }
            written += result
        }
    }

    private static func sync(_ fd: Int32, path: String) throws(MQTTError) {
        while fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            throw failure("cannot flush the session store \(path)", errno: errno)
        }
    }
}

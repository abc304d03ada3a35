import CBzip2
import CZlib
import Foundation

/// A file's bytes as a stream: a plain file as it is, a gzip file (one member or
/// several concatenated) inflated, a bzip2 file (one stream or several, as
/// Wikimedia's multistream dumps) decompressed. The format is told by the first
/// bytes. Anything else after the last member is corruption, reported with its
/// byte offset; so are a truncated member and a `.gz`/`.bz2` name on a file
/// that is neither.
public final class DecodedFile {
  enum Failure: Error {
    case notGzip
    case trailingBytes(offset: Int)
    case truncated
    case corrupt(String)
    case io(String)
  }

  private enum Mode { case undecided, plain, gzip, bzip2 }

  public let path: String
  private let fd: Int32
  private let capacity = 1 << 18
  private let raw: UnsafeMutablePointer<UInt8>
  private var rawStart = 0
  private var rawEnd = 0
  /// File offset of `raw[0]`.
  private var rawOffset = 0
  private var atFileEnd = false
  private var mode = Mode.undecided
  private let stream: UnsafeMutablePointer<z_stream>
  private var inflating = false
  private var inMember = false
  private var bz: UnsafeMutablePointer<bz_stream>?

  /// "gzip", "bzip2" or "plain" once the first bytes are read.
  var formatName: String {
    switch mode {
    case .gzip: "gzip"
    case .bzip2: "bzip2"
    case .plain, .undecided: path.hasSuffix(".bz2") ? "bzip2" : "gzip"
    }
  }

  public init(path: String) throws(InstillError) {
    self.path = path
    fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw InstillError.input("cannot open file: \(String(cString: strerror(errno)))", file: path) }
    raw = .allocate(capacity: capacity)
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
  }

  deinit {
    if inflating { inflateEnd(stream) }
    if let bz {
      if inMember { BZ2_bzDecompressEnd(bz) }
      bz.deallocate()
    }
    stream.deinitialize(count: 1)
    stream.deallocate()
    raw.deallocate()
    if fd >= 0 { Glibc.close(fd) }
  }

  /// Reads up to `count` decoded bytes into `buffer`; 0 at the end of the data.
  func read(into buffer: UnsafeMutablePointer<UInt8>, count: Int) throws(Failure) -> Int {
    if mode == .undecided { try decide() }
    if mode == .plain {
      if rawStart == rawEnd { try fillRaw() }
      let n = min(count, rawEnd - rawStart)
      if n > 0 { buffer.update(from: raw + rawStart, count: n) }
      rawStart += n
      return n
    }
    if mode == .bzip2 { return try readBzip2(into: buffer, count: count) }
    while true {
      if !inMember {
        try ensureRaw(2)
        if rawEnd == rawStart { return 0 }
        guard rawEnd - rawStart >= 2, raw[rawStart] == 0x1F, raw[rawStart + 1] == 0x8B else {
          throw .trailingBytes(offset: rawOffset + rawStart)
        }
        try startMember()
      }
      if rawStart == rawEnd {
        try fillRaw()
        if rawStart == rawEnd { throw .truncated }
      }
      stream.pointee.next_in = raw + rawStart
      stream.pointee.avail_in = UInt32(rawEnd - rawStart)
      stream.pointee.next_out = buffer
      stream.pointee.avail_out = UInt32(min(count, Int(UInt32.max)))
      let code = inflate(stream, Z_NO_FLUSH)
      rawStart = rawEnd - Int(stream.pointee.avail_in)
      let produced = count - Int(stream.pointee.avail_out)
      switch code {
      case Z_STREAM_END: inMember = false
      case Z_OK, Z_BUF_ERROR: break
      default:
        throw .corrupt(stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(code)")
      }
      if produced > 0 { return produced }
    }
  }

  private func decide() throws(Failure) {
    try ensureRaw(2)
    if rawEnd - rawStart >= 2, raw[rawStart] == 0x1F, raw[rawStart + 1] == 0x8B {
      mode = .gzip
    } else if rawEnd - rawStart >= 3, raw[rawStart] == 0x42, raw[rawStart + 1] == 0x5A, raw[rawStart + 2] == 0x68 {
      mode = .bzip2  // "BZh"
    } else if path.hasSuffix(".gz") || path.hasSuffix(".bz2") {
      throw .notGzip
    } else {
      mode = .plain
    }
  }

  private func readBzip2(into buffer: UnsafeMutablePointer<UInt8>, count: Int) throws(Failure) -> Int {
    let bz =
      self.bz
      ?? {
        let stream = UnsafeMutablePointer<bz_stream>.allocate(capacity: 1)
        self.bz = stream
        return stream
      }()
    while true {
      if !inMember {
        try ensureRaw(3)
        if rawEnd == rawStart { return 0 }
        guard rawEnd - rawStart >= 3, raw[rawStart] == 0x42, raw[rawStart + 1] == 0x5A, raw[rawStart + 2] == 0x68 else {
          throw .trailingBytes(offset: rawOffset + rawStart)
        }
        bz.initialize(to: bz_stream())
        let code = BZ2_bzDecompressInit(bz, 0, 0)
        guard code == BZ_OK else { throw .corrupt("bzip2 could not start (\(code))") }
        inMember = true
      }
      if rawStart == rawEnd {
        try fillRaw()
        if rawStart == rawEnd { throw .truncated }
      }
      let input = UnsafeMutableRawPointer(raw + rawStart).assumingMemoryBound(to: CChar.self)
      bz.pointee.next_in = input
      bz.pointee.avail_in = UInt32(rawEnd - rawStart)
      bz.pointee.next_out = UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: CChar.self)
      bz.pointee.avail_out = UInt32(min(count, Int(UInt32.max)))
      let code = BZ2_bzDecompress(bz)
      rawStart = rawEnd - Int(bz.pointee.avail_in)
      let produced = count - Int(bz.pointee.avail_out)
      switch code {
      case BZ_STREAM_END:
        BZ2_bzDecompressEnd(bz)
        inMember = false
      case BZ_OK: break
      default: throw .corrupt("bzip2 error \(code)")
      }
      if produced > 0 { return produced }
    }
  }

  private func startMember() throws(Failure) {
    let code = inflating ? inflateReset(stream) : instill_inflate_init_gzip(stream)
    guard code == Z_OK else { throw .corrupt("zlib could not start inflating (\(code))") }
    inflating = true
    inMember = true
  }

  /// Makes at least `n` unread bytes available unless the file ends first.
  private func ensureRaw(_ n: Int) throws(Failure) {
    while rawEnd - rawStart < n && !atFileEnd {
      let before = rawEnd - rawStart
      try fillRaw()
      if rawEnd - rawStart == before { break }
    }
  }

  /// Moves unread bytes to the front and reads more after them.
  private func fillRaw() throws(Failure) {
    if rawStart > 0 {
      let left = rawEnd - rawStart
      if left > 0 { (raw).update(from: raw + rawStart, count: left) }
      rawOffset += rawStart
      rawEnd = left
      rawStart = 0
    }
    while rawEnd < capacity && !atFileEnd {
      let n = Glibc.read(fd, raw + rawEnd, capacity - rawEnd)
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(String(cString: strerror(errno)))
      }
      if n == 0 { atFileEnd = true } else { rawEnd += n }
      break
    }
  }
}

extension DecodedFile {
  /// Reads up to `count` decoded bytes; 0 at the end. Failures are input errors
  /// naming the file and `position` (for example "after line 12").
  public func read(into buffer: UnsafeMutablePointer<UInt8>, count: Int, position: @autoclosure () -> String)
    throws(InstillError) -> Int
  {
    do {
      return try read(into: buffer, count: count)
    } catch {
      throw describe(error, at: position())
    }
  }

  /// The first decoded bytes of a file (fewer when it is shorter).
  public static func head(_ path: String, bytes count: Int) throws(InstillError) -> [UInt8] {
    let file = try DecodedFile(path: path)
    var bytes = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
      let n = try bytes.withUnsafeMutableBufferPointer { buf throws(InstillError) in
        try file.read(into: buf.baseAddress! + filled, count: count - filled, position: "at the start")
      }
      if n == 0 { break }
      filled += n
    }
    return Array(bytes[0..<filled])
  }

  /// The whole decoded content, at most `limit` bytes (an input error beyond).
  public static func readAll(_ path: String, limit: Int) throws(InstillError) -> [UInt8] {
    let file = try DecodedFile(path: path)
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = try chunk.withUnsafeMutableBufferPointer { buf throws(InstillError) in
        try file.read(into: buf.baseAddress!, count: buf.count, position: "at decoded byte \(bytes.count)")
      }
      if n == 0 { return bytes }
      bytes.append(contentsOf: chunk[0..<n])
      if bytes.count > limit {
        throw InstillError.input("larger than \(limit) bytes (decoded)", file: path)
      }
    }
  }

  func describe(_ failure: Failure, at position: String) -> InstillError {
    let format = formatName
    switch failure {
    case .notGzip:
      return .input("not a \(format) file (the name ends in .\(format == "gzip" ? "gz" : "bz2"))", file: path)
    case .trailingBytes(let offset):
      return .input(
        "unexpected bytes after the \(format) data at byte offset \(offset) (\(position)): "
          + "the file is corrupt", file: path)
    case .truncated:
      return .input(
        "truncated \(format) data \(position): the file ends inside a \(format) "
          + (format == "gzip" ? "member" : "stream"), file: path)
    case .corrupt(let message):
      return .input("corrupt \(format) data \(position): \(message)", file: path)
    case .io(let message):
      return .failure("cannot read: \(message)", file: path)
    }
  }
}

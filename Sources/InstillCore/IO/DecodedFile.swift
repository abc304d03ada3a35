import CZlib
import Foundation

/// A file's bytes as a stream: a plain file as it is, a gzip file (one member or
/// several concatenated) inflated. Anything else after the last gzip member is
/// corruption, reported with its byte offset; so are a truncated member and a
/// `.gz` name on a file that is not gzip.
final class DecodedFile {
  enum Failure: Error {
    case notGzip
    case trailingBytes(offset: Int)
    case truncated
    case corrupt(String)
    case io(String)
  }

  private enum Mode { case undecided, plain, gzip }

  let path: String
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

  init(path: String) throws(InstillError) {
    self.path = path
    fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw InstillError.input("cannot open file: \(String(cString: strerror(errno)))", file: path) }
    raw = .allocate(capacity: capacity)
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
  }

  deinit {
    if inflating { inflateEnd(stream) }
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
    } else if path.hasSuffix(".gz") {
      throw .notGzip
    } else {
      mode = .plain
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

import CZlib
import Foundation

/// Reads a text file line by line through zlib, so plain files, gzip files and
/// concatenated gzip members all read the same way. Holds one buffer, never the
/// whole file. A truncated or corrupt gzip stream is an error, not a short read.
public final class LineReader {
  public let path: String
  /// The 1-based number of the line last returned.
  public private(set) var lineNumber = 0

  private var file: gzFile?
  private var buffer: [UInt8]
  private var start = 0
  private var end = 0
  private var atEOF = false
  private var checkedFormat = false

  public init(path: String, bufferSize: Int = 1 << 20) throws(InstillError) {
    self.path = path
    self.buffer = [UInt8](repeating: 0, count: bufferSize)
    guard let handle = gzopen(path, "rb") else {
      throw InstillError.input("cannot open file: \(String(cString: strerror(errno)))", file: path)
    }
    gzbuffer(handle, 1 << 18)
    file = handle
  }

  deinit { close() }

  public func close() {
    if let file { gzclose_r(file) }
    file = nil
  }

  /// Calls `body` with the next line (without its newline); returns false at the end.
  /// The bytes are valid only during the call.
  public func withNextLine<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> T? {
    while true {
      if start < end {
        let found: Int? = buffer.withUnsafeBufferPointer { buf in
          guard let base = buf.baseAddress else { return nil }
          guard let hit = memchr(base + start, 0x0A, end - start) else { return nil }
          return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
        if let newline = found {
          let lineStart = start
          start = newline + 1
          lineNumber += 1
          return try buffer.withUnsafeBufferPointer { buf in
            var lineEnd = newline
            if lineEnd > lineStart, buf[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            return try body(UnsafeBufferPointer(rebasing: buf[lineStart..<lineEnd]))
          }
        }
      }
      if atEOF {
        guard start < end else { return nil }
        let lineStart = start
        start = end
        lineNumber += 1
        return try buffer.withUnsafeBufferPointer { buf in
          try body(UnsafeBufferPointer(rebasing: buf[lineStart..<end]))
        }
      }
      try fill()
    }
  }

  private func fill() throws(InstillError) {
    guard let file else { atEOF = true; return }
    if start > 0 {
      if start < end {
        buffer.withUnsafeMutableBufferPointer { buf in
          guard let base = buf.baseAddress else { return }
          memmove(base, base + start, end - start)
        }
      }
      end -= start
      start = 0
    }
    if end == buffer.count {
      buffer.append(contentsOf: repeatElement(0, count: buffer.count))
    }
    let capacity = buffer.count - end
    let count = buffer.withUnsafeMutableBufferPointer { buf in
      gzread(file, buf.baseAddress! + end, UInt32(min(capacity, Int(Int32.max))))
    }
    if count < 0 {
      throw InstillError.input("corrupt or truncated gzip data after line \(lineNumber): \(gzipError(file))", file: path)
    }
    if !checkedFormat {
      checkedFormat = true
      if path.hasSuffix(".gz"), gzdirect(file) != 0 {
        throw InstillError.input("not a gzip file (the name ends in .gz)", file: path)
      }
    }
    if count == 0 {
      // zlib reports a stream cut off mid-member as an error only here.
      var code: Int32 = 0
      let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
      if code != Z_OK && code != Z_STREAM_END {
        throw InstillError.input("truncated or corrupt gzip data after line \(lineNumber): \(message)", file: path)
      }
      atEOF = true
    }
    end += Int(count)
  }

  private func gzipError(_ file: gzFile) -> String {
    var code: Int32 = 0
    guard let message = gzerror(file, &code) else { return "unknown error" }
    return code == Z_ERRNO ? String(cString: strerror(errno)) : String(cString: message)
  }
}

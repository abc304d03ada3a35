import CZlib
import Foundation

/// Reads a text file line by line, plain or gzip (concatenated members too), so
/// both read the same way. Holds one buffer, never the whole file. A truncated or
/// corrupt gzip stream, or bytes after the last gzip member, are errors, not a
/// short read. A UTF-8 byte-order mark at the very start of the file is skipped.
public final class LineReader {
  public let path: String
  /// The 1-based number of the line last returned.
  public private(set) var lineNumber = 0

  private var file: DecodedFile?
  private var buffer: [UInt8]
  private var start = 0
  private var end = 0
  private var atEOF = false
  private var checkedStart = false

  public init(path: String, bufferSize: Int = 1 << 20) throws(InstillError) {
    self.path = path
    self.buffer = [UInt8](repeating: 0, count: bufferSize)
    file = try DecodedFile(path: path)
  }

  public func close() { file = nil }

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
    guard let file else {
      atEOF = true
      return
    }
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
    let count: Int
    do {
      count = try buffer.withUnsafeMutableBufferPointer { buf throws(DecodedFile.Failure) in
        try file.read(into: buf.baseAddress! + end, count: capacity)
      }
    } catch {
      throw describe(error)
    }
    if count == 0 { atEOF = true }
    end += count
    if !checkedStart, end >= 3 || atEOF {
      checkedStart = true
      if end >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { start = 3 }  // UTF-8 byte-order mark
    }
  }

  private func describe(_ failure: DecodedFile.Failure) -> InstillError {
    file?.describe(failure, at: "after line \(lineNumber)") ?? .failure("\(failure)", file: path)
  }
}

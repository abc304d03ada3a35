import CZlib
import Foundation

/// Writes records as JSON lines into `path` (gzip when it ends in `.gz`).
/// Everything goes to `path.tmp`; `finish()` closes, fsyncs and renames, so the
/// final name only ever holds a complete file. `abandon()` removes the tmp file.
public final class RecordWriter {
  public let path: String
  public let tmpPath: String
  public private(set) var count = 0
  public private(set) var uncompressedBytes = 0

  private var file: gzFile?
  private var pending: [UInt8] = []
  private let flushSize = 1 << 18

  /// - Parameter level: gzip level 1 (fast) to 9 (small); ignored for plain `.jsonl`.
  public init(path: String, level: Int = 6) throws(InstillError) {
    self.path = path
    self.tmpPath = path + ".tmp"
    let mode = path.hasSuffix(".gz") ? "wb\(max(1, min(9, level)))" : "wbT"
    guard let handle = gzopen(tmpPath, mode) else {
      throw InstillError.failure("cannot create file: \(String(cString: strerror(errno)))", file: tmpPath)
    }
    gzbuffer(handle, 1 << 18)
    file = handle
    pending.reserveCapacity(flushSize + 4096)
  }

  deinit { abandon() }

  public func write(_ record: Record) throws(InstillError) {
    JSONWriter.write(record.fields, into: &pending)
    pending.append(0x0A)
    count += 1
    if pending.count >= flushSize { try flush() }
  }

  public func write<S: Sequence>(contentsOf records: S) throws(InstillError) where S.Element == Record {
    for record in records { try write(record) }
  }

  private func flush() throws(InstillError) {
    guard let file, !pending.isEmpty else { return }
    let written = pending.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    guard written == Int32(pending.count) else {
      throw InstillError.failure("write failed: \(String(cString: strerror(errno)))", file: tmpPath)
    }
    uncompressedBytes += pending.count
    pending.removeAll(keepingCapacity: true)
  }

  /// Completes the file: flush, close, fsync, rename to `path`, fsync the folder.
  public func finish() throws(InstillError) {
    try flush()
    guard let file else { throw InstillError.failure("writer already closed", file: path) }
    self.file = nil
    guard gzclose_w(file) == Z_OK else {
      throw InstillError.failure("closing failed: \(String(cString: strerror(errno)))", file: tmpPath)
    }
    try FileSystem.fsyncFile(tmpPath)
    try FileSystem.rename(tmpPath, to: path)
  }

  /// Drops the unfinished file.
  public func abandon() {
    if let file {
      gzclose_w(file)
      self.file = nil
      unlink(tmpPath)
    }
  }
}

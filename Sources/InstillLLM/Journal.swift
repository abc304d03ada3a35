import Foundation
import InstillCore
import Synchronization

/// The durable record of LLM responses received for one shard (or one global
/// stage): one JSON line per response, `{"key": …, "response": {…}, "at": UNIX
/// seconds}` (`at`, when it arrived, is for reports only). A response
/// is appended as soon as it arrives and fsynced in small batches, so a crash
/// loses at most the last few; on resume the journal answers those requests
/// instead of the server. A line torn by a crash is cut off when reopening.
public final class Journal: Sendable {
  public let path: String
  private struct State {
    var fd: Int32
    var entries: [String: LLMResponse]
    var unsynced = 0
    var lastSync = ContinuousClock.now
  }
  private let state: Mutex<State>
  /// fsync after this many appends or this much time, whichever comes first.
  private let batchSize: Int
  private let batchInterval: Duration

  public init(path: String, batchSize: Int = 8, batchInterval: Duration = .milliseconds(200)) throws(InstillError) {
    self.path = path
    self.batchSize = batchSize
    self.batchInterval = batchInterval
    try FileSystem.createDirectory((path as NSString).deletingLastPathComponent)
    var entries: [String: LLMResponse] = [:]
    var goodLength = 0
    if let data = FileManager.default.contents(atPath: path) {
      let bytes = [UInt8](data)
      var start = 0
      while start < bytes.count {
        guard let newline = bytes[start...].firstIndex(of: 0x0A) else { break }  // torn last line
        let line = Array(bytes[start..<newline])
        if let value = try? JSONParser.parse(line), let o = value.objectValue, let key = o["key"]?.stringValue,
          let responseObject = o["response"]?.objectValue, let response = LLMResponse(json: responseObject)
        {
          entries[key] = response
        }
        start = newline + 1
        goodLength = start
      }
    }
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw InstillError.failure("cannot open journal: \(String(cString: strerror(errno)))", file: path)
    }
    if ftruncate(fd, off_t(goodLength)) != 0 || lseek(fd, off_t(goodLength), SEEK_SET) < 0 {
      close(fd)
      throw InstillError.failure("cannot prepare journal: \(String(cString: strerror(errno)))", file: path)
    }
    state = Mutex(State(fd: fd, entries: entries))
  }

  deinit {
    state.withLock { s in
      if s.fd >= 0 {
        fsync(s.fd)
        close(s.fd)
        s.fd = -1
      }
    }
  }

  public var count: Int { state.withLock { $0.entries.count } }

  /// A file kept beside the journal at `journal`: its name without `.jsonl`, then `suffix`
  /// (`shard-00000.jsonl` → `shard-00000.transient.log` for suffix `.transient.log`).
  public static func sibling(of journal: String, _ suffix: String) -> String {
    (journal.hasSuffix(".jsonl") ? String(journal.dropLast(6)) : journal) + suffix
  }

  public func response(for key: String) -> LLMResponse? {
    state.withLock { $0.entries[key] }
  }

  /// Appends a response; durable within `batchSize` appends or `batchInterval`.
  public func append(key: String, response: LLMResponse) throws(InstillError) {
    let at = (Date().timeIntervalSince1970 * 1000).rounded() / 1000
    var line = JSONWriter.bytes(.object(["key": .string(key), "response": .object(response.json), "at": .double(at)]))
    line.append(0x0A)
    let failure: InstillError? = state.withLock { s in
      guard s.fd >= 0 else { return InstillError.failure("journal is closed", file: path) }
      var offset = 0
      while offset < line.count {
        let n = line.withUnsafeBytes { write(s.fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
          if errno == EINTR { continue }
          return InstillError.failure("journal write failed: \(String(cString: strerror(errno)))", file: path)
        }
        offset += n
      }
      s.entries[key] = response
      s.unsynced += 1
      if s.unsynced >= batchSize || ContinuousClock.now - s.lastSync >= batchInterval {
        fsync(s.fd)
        s.unsynced = 0
        s.lastSync = ContinuousClock.now
      }
      return nil
    }
    if let failure { throw failure }
  }

  /// Makes every appended response durable.
  public func sync() {
    state.withLock { s in
      if s.fd >= 0, s.unsynced > 0 {
        fsync(s.fd)
        s.unsynced = 0
        s.lastSync = ContinuousClock.now
      }
    }
  }
}

import Foundation
import InstillCore
import Synchronization

extension LLMFailure {
  /// True for failures a later run may not meet: timeouts, dropped connections,
  /// rate limits (429, 408) and server errors (5xx). A 4xx refusal or a reply
  /// that does not parse is permanent: the same request would fail again.
  public var isTransient: Bool {
    switch kind {
    case "timeout", "connection", "http_408", "http_429": return true
    default:
      guard kind.hasPrefix("http_"), let code = Int(kind.dropFirst(5)) else { return false }
      return code >= 500
    }
  }
}

/// Thrown by `LLMSession.send` for a request that failed transiently after all
/// its retries, in fewer than the limit's separate runs: the record that needed
/// it is left for the next run instead of being dropped.
public struct RequestDeferred: Error, Sendable {
  public var kind: String
  public init(kind: String) { self.kind = kind }
}

/// Records left unfinished because requests failed transiently: the shard (or
/// stage) stays unfinished and the run ends with exit 1; the same command sends
/// exactly those requests again and answers the rest from the journal.
public struct RequestsDeferred: Error, Sendable, CustomStringConvertible {
  /// Failed requests by kind (`timeout`, `http_503`, …).
  public var kinds: [String: Int]
  public var stage: String

  public init(stage: String, kinds: [String: Int]) {
    self.stage = stage
    self.kinds = kinds
  }

  public mutating func merge(_ other: RequestsDeferred) {
    for (kind, n) in other.kinds { kinds[kind, default: 0] += n }
  }

  /// `work`'s result, or the transient failure that left it for the next run:
  /// one item's deferral must not stop the items beside it.
  public static func catching<Output: Sendable>(_ work: () async throws -> Output) async throws
    -> Result<Output, RequestDeferred>
  {
    do { return .success(try await work()) } catch let failure as RequestDeferred { return .failure(failure) }
  }

  /// The item's output, or nil after counting its deferral.
  public mutating func unwrap<Output>(_ result: Result<Output, RequestDeferred>) -> Output? {
    switch result {
    case .success(let output): return output
    case .failure(let failure):
      kinds[failure.kind, default: 0] += 1
      return nil
    }
  }

  public var count: Int { kinds.values.reduce(0, +) }

  public var description: String {
    let list = kinds.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    return "stage \(stage): \(count) request\(count == 1 ? "" : "s") failed after every retry (\(list)); "
      + "the records that need them are left unfinished. Run the same command again to retry exactly those requests"
  }
}

/// Which requests of a shard failed transiently, and in which runs: one JSON
/// line per failure (`{"key", "kind", "run", "at"}`) beside the journal. A
/// request that has failed in `limit` separate runs is given up (a drop).
public final class TransientFailureLog: Sendable {
  public let path: String
  private let runs: Mutex<[String: Set<String>]>

  /// The log beside a journal file (`shard-00000.jsonl` → `shard-00000.transient.log`).
  public static func path(besideJournal journal: String) -> String {
    Journal.sibling(of: journal, ".transient.log")
  }

  public init(path: String) {
    self.path = path
    var runs: [String: Set<String>] = [:]
    if let data = FileManager.default.contents(atPath: path) {
      for line in data.split(separator: 0x0A) {
        guard let o = (try? JSONParser.parse([UInt8](line)))?.objectValue, let key = o["key"]?.stringValue,
          let run = o["run"]?.stringValue
        else { continue }
        runs[key, default: []].insert(run)
      }
    }
    self.runs = Mutex(runs)
  }

  /// In how many separate runs `key` has failed transiently.
  public func runs(_ key: String) -> Int { runs.withLock { $0[key]?.count ?? 0 } }

  /// Records a failure of `key` in `run`; returns the number of separate runs it has failed in.
  @discardableResult
  public func record(key: String, kind: String, run: String) throws(InstillError) -> Int {
    let at = (Date().timeIntervalSince1970 * 1000).rounded() / 1000
    var line = JSONWriter.bytes(
      .object(["key": .string(key), "kind": .string(kind), "run": .string(run), "at": .double(at)]))
    line.append(0x0A)
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw InstillError.failure("cannot open: \(String(cString: strerror(errno)))", file: path) }
    defer { close(fd) }
    let written = line.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
    guard written == line.count else {
      throw InstillError.failure("write failed: \(String(cString: strerror(errno)))", file: path)
    }
    fsync(fd)
    return runs.withLock { r in
      r[key, default: []].insert(run)
      return r[key]!.count
    }
  }
}

import Foundation
import InstillCore

/// One batch as recorded beside a shard's journal (`shard-NNNNN.batches.jsonl`).
public struct RecordedBatch: Sendable, Equatable {
  public var id: String
  public var keys: [String]
  public var createdAt: Double
  /// The last status seen (`validating`, `in_progress`, `completed`, `expired`, …).
  public var status: String

  public static let terminal: Set<String> = ["completed", "expired", "cancelled", "failed"]

  public var inFlight: Bool { !Self.terminal.contains(status) }

  /// The file of a journal's batches.
  public static func path(besideJournal journal: String) -> String {
    Journal.sibling(of: journal, ".batches.jsonl")
  }

  /// The batches recorded in `path`, oldest first, each with its last status.
  public static func read(_ path: String) -> [RecordedBatch] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    var batches: [RecordedBatch] = []
    for line in data.split(separator: 0x0A) {
      guard let o = (try? JSONParser.parse(Array(line)))?.objectValue, let id = o["batch_id"]?.stringValue else {
        continue
      }
      if let keys = o["keys"]?.arrayValue {
        batches.append(
          RecordedBatch(
            id: id, keys: keys.compactMap(\.stringValue), createdAt: o["created_at"]?.doubleValue ?? 0,
            status: o["status"]?.stringValue ?? "validating"))
      } else if let status = o["status"]?.stringValue, let i = batches.firstIndex(where: { $0.id == id }) {
        batches[i].status = status
      }
    }
    return batches
  }

  public static func append(_ line: JSONObject, to path: String) throws(InstillError) {
    try FileSystem.createDirectory((path as NSString).deletingLastPathComponent)
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw InstillError.failure("cannot open the batch record", file: path) }
    defer { close(fd) }
    let bytes = JSONWriter.bytes(.object(line)) + [0x0A]
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count, fsync(fd) == 0 else {
      throw InstillError.failure("cannot write the batch record", file: path)
    }
  }
}

import Foundation
import InstillCore
import Testing

/// Every file under `dir` with its SHA-256, for byte-identity comparisons.
public func treeDigest(_ dir: String) -> [String: String] {
  var out: [String: String] = [:]
  guard let walker = FileManager.default.enumerator(atPath: dir) else { return out }
  while let rel = walker.nextObject() as? String {
    var isDir: ObjCBool = false
    let full = dir + "/" + rel
    if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue,
      let data = FileManager.default.contents(atPath: full)
    {
      out[rel] = SHA256.hex([UInt8](data))
    }
  }
  return out
}

/// Parses `instill stats --json` output.
public func statsJSON(_ runDir: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONObject {
  let result = try await runProgram(Binary.path, ["stats", runDir, "--json"])
  #expect(result.status == 0, "stats failed: \(result.stderr)", sourceLocation: sourceLocation)
  return try JSONParser.parse(result.stdout).objectValue ?? JSONObject()
}

/// The statistics of one stage (`stats` of its entry in `instill stats --json`), by stage name.
public func stageStats(_ runDir: String, _ stage: String, sourceLocation: SourceLocation = #_sourceLocation)
  async throws -> JSONObject
{
  let stats = try await statsJSON(runDir, sourceLocation: sourceLocation)
  let entry = stats["stages"]?.arrayValue?.first { $0.objectValue?["name"]?.stringValue == stage }
  #expect(entry != nil, "no stage \(stage) in the statistics", sourceLocation: sourceLocation)
  return entry?.objectValue?["stats"]?.objectValue ?? JSONObject()
}

/// The counts of each filter of a stage's statistics: filter name → drop reason → count.
public func filterDrops(_ stats: JSONObject) -> [String: [String: Int]] {
  var out: [String: [String: Int]] = [:]
  for filter in stats["filters"]?.arrayValue ?? [] {
    guard let o = filter.objectValue, let name = o["name"]?.stringValue else { continue }
    var drops: [String: Int] = [:]
    for (reason, n) in o["dropped"]?.objectValue ?? [:] { drops[reason] = n.intValue ?? 0 }
    out[name] = drops
  }
  return out
}

/// The request keys recorded in every journal file of a folder.
public func journalKeys(_ dir: String) -> Set<String> {
  var keys = Set<String>()
  for file in FileSystem.list(dir) where file.hasSuffix(".jsonl") {
    guard let text = try? String(contentsOfFile: dir + "/" + file, encoding: .utf8) else { continue }
    for line in text.split(separator: "\n") {
      if let key = (try? JSONParser.parse(String(line)))?.objectValue?["key"]?.stringValue { keys.insert(key) }
    }
  }
  return keys
}

/// Lines with a key in a journal folder (a request journaled twice counts twice).
public func journalLineCount(_ dir: String) -> Int {
  var count = 0
  for file in FileSystem.list(dir) where file.hasSuffix(".jsonl") {
    guard let text = try? String(contentsOfFile: dir + "/" + file, encoding: .utf8) else { continue }
    count +=
      text.split(separator: "\n").filter { (try? JSONParser.parse(String($0)))?.objectValue?["key"] != nil }.count
  }
  return count
}

import Foundation
import InstillCore
import Synchronization
import Testing

/// A fresh temporary folder, removed when the value is dropped.
public final class TempDir {
  public let path: String

  public init(_ name: String = "instill-test") {
    let template = NSTemporaryDirectory() + "/\(name)-XXXXXX"
    var bytes = Array(template.utf8CString)
    let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    path = made.map { String(cString: $0) } ?? template
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  public func file(_ name: String) -> String { path + "/" + name }

  @discardableResult
  public func write(_ name: String, _ text: String) -> String {
    let p = file(name)
    try? FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
    return p
  }

  @discardableResult
  public func write(_ name: String, bytes: [UInt8]) -> String {
    let p = file(name)
    _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
    return p
  }
}

/// The result of running the built `instill` binary.
public struct CommandResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String
}

public enum Binary {
  /// The `instill` executable built next to the test bundle (or `INSTILL_BIN`).
  public static var path: String {
    if let explicit = ProcessInfo.processInfo.environment["INSTILL_BIN"] { return explicit }
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = dir.appendingPathComponent("instill").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      dir = dir.deletingLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath + "/.build/debug/instill"
  }
}

/// Runs a program to completion and collects its output. The waiting happens on a
/// thread of its own: blocking the few threads of Swift's cooperative pool would
/// starve the in-process test servers.
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil) async throws -> CommandResult {
  try await offPool { try runProgramBlocking(executable, arguments, cwd: cwd, environment: environment) }
}

/// Runs blocking work on a new thread and waits for it without holding a pool thread.
public func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread {
      do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
    }.start()
  }
}

/// Waits for a child process to exit without holding a pool thread.
public func waitForExit(_ process: Process) async {
  let box = UncheckedBox(process)
  _ = try? await offPool { box.value.waitUntilExit() }
}

public struct UncheckedBox<T>: @unchecked Sendable {
  public let value: T
  public init(_ value: T) { self.value = value }
}

public func runProgramBlocking(_ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil) throws -> CommandResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
  if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  // Both pipes are drained at once, so a chatty child never blocks on a full pipe.
  let errBox = Mutex<Data>(Data())
  let errDone = DispatchSemaphore(value: 0)
  let errHandle = UncheckedBox(err.fileHandleForReading)
  Thread {
    let data = errHandle.value.readDataToEndOfFile()
    errBox.withLock { $0 = data }
    errDone.signal()
  }.start()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  errDone.wait()
  let errData = errBox.withLock { $0 }
  process.waitUntilExit()
  return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
}

@discardableResult
public func instill(_ arguments: String..., cwd: String? = nil, environment: [String: String]? = nil) async throws -> CommandResult {
  try await runProgram(Binary.path, arguments, cwd: cwd, environment: environment)
}

/// Every file under `dir` with its SHA-256, for byte-identity comparisons.
public func treeDigest(_ dir: String) -> [String: String] {
  var out: [String: String] = [:]
  guard let walker = FileManager.default.enumerator(atPath: dir) else { return out }
  while let rel = walker.nextObject() as? String {
    var isDir: ObjCBool = false
    let full = dir + "/" + rel
    if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue,
       let data = FileManager.default.contents(atPath: full) {
      out[rel] = SHA256.hex([UInt8](data))
    }
  }
  return out
}

/// Writes `count` generated question/answer records as JSONL with natural variety.
public func writeQA(_ dir: TempDir, name: String = "qa.jsonl", count: Int, seed: UInt64 = 1) -> String {
  var random = SeededRandom(seed: seed)
  let words = ["explain", "the", "difference", "between", "image", "a", "list", "of", "three", "reasons", "why", "rivers",
               "summarize", "article", "café", "write", "short", "poem", "about", "autumn", "translate", "sentence", "into",
               "french", "classify", "review", "positive", "negative", "naïve", "日本語"]
  var text = ""
  for i in 0..<count {
    let n = 1 + random.below(14)
    let question = (0..<n).map { _ in words[random.below(words.count)] }.joined(separator: " ")
    let answer = (0..<(1 + random.below(30))).map { _ in words[random.below(words.count)] }.joined(separator: " ")
    text += JSONWriter.string(.object(["q": .string(question), "a": .string(answer + " \(i)"), "n": .int(i)])) + "\n"
  }
  return dir.write(name, text)
}

/// Runs the built `instill` and records an issue (with its stderr) unless it
/// exits with `status`.
@discardableResult
public func instill(expect status: Int32, _ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation)
  async throws -> CommandResult {
  let result = try await runProgram(Binary.path, arguments)
  #expect(result.status == status, "instill \(arguments.joined(separator: " ")): \(result.stderr)",
          sourceLocation: sourceLocation)
  return result
}

/// Parses `instill stats --json` output.
public func statsJSON(_ runDir: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONObject {
  let result = try await runProgram(Binary.path, ["stats", runDir, "--json"])
  #expect(result.status == 0, "stats failed: \(result.stderr)", sourceLocation: sourceLocation)
  return try JSONParser.parse(result.stdout).objectValue ?? JSONObject()
}

/// The statistics of one stage (`stats` of its entry in `instill stats --json`), by stage name.
public func stageStats(_ runDir: String, _ stage: String, sourceLocation: SourceLocation = #_sourceLocation)
  async throws -> JSONObject {
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
    count += text.split(separator: "\n").filter { (try? JSONParser.parse(String($0)))?.objectValue?["key"] != nil }.count
  }
  return count
}

/// A path inside this repository (for shipped seeds and fixtures).
public func repositoryPath(_ relative: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(relative).path
}

/// Starts the built `instill` in the background (for tests that kill or signal it).
/// `stderr`: a Pipe or FileHandle to receive its log; inherited when nil.
public func launchInstill(_ arguments: [String], stderr: Any? = nil) throws -> Process {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: Binary.path)
  process.arguments = arguments
  if let stderr { process.standardError = stderr }
  try process.run()
  return process
}

/// Copies every stage's `journal/` folder of a run into a fresh run directory,
/// so running the same pipeline there replays the recorded responses.
public func copyJournals(from run: String, to replay: String) throws {
  try FileManager.default.createDirectory(atPath: replay + "/stages", withIntermediateDirectories: true)
  for folder in FileSystem.list(run + "/stages") where FileSystem.exists(run + "/stages/\(folder)/journal") {
    try FileManager.default.createDirectory(atPath: replay + "/stages/" + folder, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: run + "/stages/\(folder)/journal", toPath: replay + "/stages/\(folder)/journal")
  }
}

/// Loads an exported `data/` folder with Python's `datasets` (offline) and
/// returns the train split's size and the first record's columns.
public func loadWithDatasets(_ data: String, scratch: String) async throws -> (status: Int32, train: Int?, columns: [String], stderr: String) {
  let script = """
    import json, sys
    from datasets import load_dataset
    ds = load_dataset(sys.argv[1])
    print(json.dumps({"train": len(ds["train"]), "columns": ds["train"].column_names}))
    """
  let python = try await runProgram("/usr/bin/env", ["python3", "-c", script, data],
                                    environment: ["HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": scratch,
                                                  "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"])
  let object = (try? JSONParser.parse(python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))?.objectValue
  return (python.status, object?["train"]?.intValue,
          object?["columns"]?.arrayValue?.compactMap(\.stringValue) ?? [], String(python.stderr.suffix(2000)))
}

/// Runs `instill run PIPELINE --run-dir RUN` in the background and kills it with
/// SIGKILL as soon as `journal` holds `count` responses; returns the request keys
/// journaled at that moment.
public func killAfterJournaled(_ pipeline: String, runDir: String, journal: String, count: Int) async throws -> Set<String> {
  let process = try launchInstill(["run", pipeline, "--run-dir", runDir, "--quiet"])
  while journalKeys(journal).count < count { try await Task.sleep(for: .milliseconds(100)) }
  kill(process.processIdentifier, SIGKILL)
  await waitForExit(process)
  return journalKeys(journal)
}

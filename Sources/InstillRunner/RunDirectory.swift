import Foundation
import InstillCore
import Synchronization

/// One stage as recorded in `DIR/plan.json`, so that `status` and `stats` can read
/// a run directory without the pipeline file.
public struct PlanEntry: Codable, Sendable, Equatable {
  public var index: Int
  public var name: String
  public var kind: String
  public var shape: String
  public var folder: String
  public var fingerprint: String
}

/// A stage's completion marker, `stages/NN-name/manifest.json`.
public struct StageManifest: Codable, Sendable {
  public var shards: Int
  public var records: Int
  public var fingerprint: String
}

/// Paths and files of a run directory (layout in DESIGN.md).
public struct RunDirectory: Sendable {
  public let path: String

  public init(_ path: String) {
    self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
  }

  public var frozenPipeline: String { path + "/pipeline.yaml" }
  public var planFile: String { path + "/plan.json" }
  public var statsFile: String { path + "/stats.json" }
  /// The prices of the last run's pipeline (`prices`), for the statistics' cost.
  public var pricesFile: String { path + "/prices.json" }

  public func readPrices() -> PriceTable? {
    (try? FileSystem.read(pricesFile)).flatMap { try? JSONDecoder().decode(PriceTable.self, from: Data($0)) }
  }

  /// Keeps the pipeline's prices beside its statistics (or none, when it has none).
  public func writePrices(_ prices: PriceTable?) throws(InstillError) {
    guard let prices else { return FileSystem.remove(pricesFile) }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    guard let bytes = try? encoder.encode(prices) else { return }
    try FileSystem.writeAtomically([UInt8](bytes) + [0x0A], to: pricesFile)
  }
  public var stagesDirectory: String { path + "/stages" }
  public var dataDirectory: String { path + "/data" }
  /// The embedded llama-server's log.
  public var serverLog: String { path + "/logs/llama-server.log" }
  /// Job-array tasks' statistics of their shards in progress.
  public var liveDirectory: String { path + "/live" }
  public func liveTaskPath(_ index: Int) -> String {
    liveDirectory + "/task-" + String(format: "%05d", index) + ".json"
  }

  public func stageDirectory(_ folder: String) -> String { stagesDirectory + "/" + folder }

  public func shardPath(_ folder: String, _ shard: Int) -> String {
    stageDirectory(folder) + "/" + ShardFiles.shard(shard)
  }

  public func shardStatsPath(_ folder: String, _ shard: Int) -> String {
    stageDirectory(folder) + "/" + ShardFiles.stats(shard)
  }

  /// A global stage's statistics file.
  public func stageStatsPath(_ folder: String) -> String { stageDirectory(folder) + "/" + ShardFiles.stageStats }

  /// The LLM journal of a map stage's shard, or of a global stage (shard nil).
  public func journalPath(_ folder: String, shard: Int?) -> String {
    stageDirectory(folder) + "/journal/" + (shard.map { "shard-\(ShardFiles.pad5($0))" } ?? "stage") + ".jsonl"
  }

  /// What interrupted attempts of a shard (or global stage) spent on the LLM, kept
  /// beside its journal until the shard completes.
  public func spendingPath(_ folder: String, shard: Int?) -> String {
    stageDirectory(folder) + "/journal/" + (shard.map { "shard-\(ShardFiles.pad5($0))" } ?? "stage") + ".spent.json"
  }

  public func manifest(_ folder: String) -> StageManifest? {
    guard let bytes = try? FileSystem.read(stageDirectory(folder) + "/" + ShardFiles.manifest) else { return nil }
    return try? JSONDecoder().decode(StageManifest.self, from: Data(bytes))
  }

  public func writeManifest(_ manifest: StageManifest, folder: String) throws(InstillError) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    let bytes = (try? [UInt8](encoder.encode(manifest))) ?? []
    try FileSystem.writeAtomically(bytes, to: stageDirectory(folder) + "/" + ShardFiles.manifest)
  }

  public func readPlan() -> [PlanEntry]? {
    guard let bytes = try? FileSystem.read(planFile) else { return nil }
    return try? JSONDecoder().decode([PlanEntry].self, from: Data(bytes))
  }

  public func writePlan(_ plan: [PlanEntry]) throws(InstillError) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    let bytes = (try? [UInt8](encoder.encode(plan))) ?? []
    try FileSystem.writeAtomically(bytes, to: planFile)
  }

  /// Indices of the finished shards in a stage folder.
  public func finishedShards(_ folder: String) -> [Int] {
    FileSystem.list(stageDirectory(folder)).compactMap { name in
      guard name.hasPrefix("shard-"), name.hasSuffix(".jsonl.gz") else { return nil }
      return Int(name.dropFirst(6).dropLast(9))
    }
  }

  /// Everything recorded on disk for a stage: its finished shards' stats plus a
  /// global stage's `stage.stats.json`. `cached`: reuse the last total while the
  /// files look unchanged (size and modification time, whose clock is coarse), for
  /// displays refreshed every second; final figures read the files.
  public func diskStats(_ folder: String, cached: Bool = false) -> StageStats {
    let dir = stageDirectory(folder)
    let names = FileSystem.list(dir)
    let present = Set(names)
    // A shard's stats count only once the shard itself is in place.
    var files = names.filter {
      $0.hasSuffix(".stats.json")
        && (!$0.hasPrefix("shard-") || present.contains($0.replacingOccurrences(of: ".stats.json", with: ".jsonl.gz")))
    }
    // What interrupted attempts of unfinished shards paid for (merged into a shard's statistics when it finishes).
    let spent = FileSystem.list(dir + "/journal").filter { $0.hasSuffix(".spent.json") }.map { "journal/" + $0 }
    files += spent
    let identity =
      cached ? files.map { $0 + "=" + (FileSystem.identity(dir + "/" + $0) ?? "") }.joined(separator: "\n") : nil
    if let identity, let total = DiskStatsCache.shared.total(dir, identity: identity) { return total }
    var total = StageStats()
    for name in files {
      guard let bytes = try? FileSystem.read(dir + "/" + name) else { continue }
      if name.hasPrefix("journal/") {
        if let llm = try? JSONDecoder().decode(LLMStats.self, from: Data(bytes)) { total.llm.merge(llm) }
      } else if let stats = StageStats.decode(bytes) {
        total.merge(stats)
      }
    }
    if let identity { DiskStatsCache.shared.store(dir, identity: identity, total: total) }
    return total
  }
}

/// The last merged total of each stage folder's statistics files, reused while
/// the same files with the same sizes and modification times are there: the
/// live progress line and the periodic `stats.json` re-read every finished
/// shard's statistics, which change only when a shard finishes.
final class DiskStatsCache: Sendable {
  static let shared = DiskStatsCache()
  private let entries = Mutex<[String: (identity: String, total: StageStats)]>([:])

  func total(_ folder: String, identity: String) -> StageStats? {
    entries.withLock { $0[folder] }.flatMap { $0.identity == identity ? $0.total : nil }
  }

  func store(_ folder: String, identity: String, total: StageStats) {
    entries.withLock { $0[folder] = (identity, total) }
  }
}

extension RunDirectory {
  /// Each planned stage with its manifest (when it belongs to this plan) and its
  /// number of shards when known: from the manifest, or for a map stage from the
  /// stage before it.
  public func stageSizes(_ plan: [PlanEntry]) -> [(entry: PlanEntry, manifest: StageManifest?, shards: Int?)] {
    var upstream: Int?
    return plan.map { entry in
      let manifest = manifest(entry.folder).flatMap { $0.fingerprint == entry.fingerprint ? $0 : nil }
      let shards = manifest?.shards ?? (entry.shape == StageShape.map.rawValue ? upstream : nil)
      upstream = shards
      return (entry, manifest, shards)
    }
  }

  /// The tasks of an N-task job array (`--shard-index I --shard-count N` owns the
  /// shards with `shard % N == I`) that still own a missing output shard of a map
  /// stage: the tasks to resubmit. `stages` limits the map stages looked at (all
  /// when empty). Throws when a stage's size is not known yet (its input is incomplete).
  public func pendingTasks(count: Int, stages names: [String]) throws(InstillError) -> [Int] {
    guard let plan = readPlan() else {
      throw InstillError.failure("not a started run directory (no plan.json)", file: path)
    }
    for name in names where !plan.contains(where: { $0.name == name }) {
      throw InstillError.input(
        "no stage named '\(name)' (stages: \(plan.map(\.name).joined(separator: ", ")))", field: "--stage")
    }
    var tasks = Set<Int>()
    for (entry, manifest, total) in stageSizes(plan) {
      guard entry.shape == StageShape.map.rawValue, names.isEmpty || names.contains(entry.name), manifest == nil else {
        continue
      }
      guard let total else {
        throw InstillError.failure(
          "stage \(entry.name) cannot be split into tasks yet: the stages before it are not complete")
      }
      let finished = Set(finishedShards(entry.folder))
      for shard in 0..<total where !finished.contains(shard) { tasks.insert(shard % count) }
    }
    return tasks.sorted()
  }

  /// Task indexes as a Slurm `--array` list: `0-3,7,9-12`.
  public static func arraySpec(_ tasks: [Int]) -> String {
    var parts: [String] = []
    var index = 0
    while index < tasks.count {
      var end = index
      while end + 1 < tasks.count, tasks[end + 1] == tasks[end] + 1 { end += 1 }
      parts.append(end == index ? "\(tasks[index])" : "\(tasks[index])-\(tasks[end])")
      index = end + 1
    }
    return parts.joined(separator: ",")
  }
}

extension RunDirectory {
  /// Adds elapsed time on a map stage to its `stage.stats.json`. The tasks of a
  /// job array finish their shares at the same moment, so the read-add-write
  /// happens under an exclusive `flock` on the stage's `.stats-lock` (per open
  /// file, so it also orders threads of one process); no update is lost.
  public func addWallTime(_ elapsed: Double, folder: String) {
    let path = stageStatsPath(folder)
    let fd = open(stageDirectory(folder) + "/.stats-lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    if fd >= 0 {
      while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
    }
    defer { if fd >= 0 { close(fd) } }
    var stats = (try? FileSystem.read(path)).flatMap(StageStats.decode) ?? StageStats()
    stats.wallSeconds += elapsed
    try? FileSystem.writeAtomically(stats.encoded(), to: path)
  }
}

/// What a job-array task has in progress, per stage folder (`DIR/live/task-NNNNN.json`).
public struct LiveTaskStats: Codable, Sendable {
  public var stages: [String: StageStats]

  public func encoded() -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? [UInt8](encoder.encode(self))) ?? []
  }

  /// The shards in progress of the running `tasks` (their indexes), merged. A file
  /// left by a task that is not running (killed) is ignored.
  public static func merged(in directory: RunDirectory, tasks: [Int]) -> [String: StageStats] {
    var merged: [String: StageStats] = [:]
    for index in tasks {
      guard let bytes = try? FileSystem.read(directory.liveTaskPath(index)),
        let task = try? JSONDecoder().decode(LiveTaskStats.self, from: Data(bytes))
      else { continue }
      for (folder, stats) in task.stages { merged[folder, default: StageStats()].merge(stats) }
    }
    return merged
  }
}

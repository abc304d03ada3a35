/// Names of the files in a stage folder.
public enum ShardFiles {
  public static func shard(_ index: Int) -> String { "shard-\(pad5(index)).jsonl.gz" }
  public static func stats(_ index: Int) -> String { "shard-\(pad5(index)).stats.json" }
  public static let manifest = "manifest.json"
  public static let stageStats = "stage.stats.json"

  public static func pad5(_ n: Int) -> String {
    let s = String(n)
    return s.count >= 5 ? s : String(repeating: "0", count: 5 - s.count) + s
  }
}

/// Splits a global stage's output into shards of `recordsPerShard` records,
/// each written atomically. No records, no shards.
public final class ShardedOutput {
  public let directory: String
  public let recordsPerShard: Int
  public private(set) var shardCount = 0
  public private(set) var recordCount = 0
  private var current: RecordWriter?
  private let level: Int

  public init(directory: String, recordsPerShard: Int, level: Int = 1) {
    self.directory = directory
    self.recordsPerShard = max(1, recordsPerShard)
    self.level = level
  }

  deinit { current?.abandon() }

  public func write(_ record: Record) throws(InstillError) {
    if current == nil {
      current = try RecordWriter(path: directory + "/" + ShardFiles.shard(shardCount), level: level)
    }
    try current?.write(record)
    recordCount += 1
    if let writer = current, writer.count >= recordsPerShard {
      try writer.finish()
      current = nil
      shardCount += 1
    }
  }

  /// Completes the current shard early, so the next record starts a new one (a
  /// global stage that keeps its input's sharding calls it after each input shard).
  public func endShard() throws(InstillError) {
    if let writer = current {
      try writer.finish()
      current = nil
      shardCount += 1
    }
  }

  /// Completes the last shard and returns the number of shards.
  public func finish() throws(InstillError) -> Int {
    try endShard()
    return shardCount
  }

  public func abandon() {
    current?.abandon()
    current = nil
  }
}

import InstillCore
import InstillRunner

/// A stage's output shard in a run directory (`folder` is the stage's `NN-name`).
public func shardFile(_ run: String, _ folder: String, _ shard: Int = 0) -> String {
  RunDirectory(run).shardPath(folder, shard)
}

/// The records of a stage's output shards, in shard order.
public func stageRecords(_ run: String, _ folder: String, shards: Range<Int> = 0..<1) throws -> [Record] {
  try shards.flatMap { try RecordReader.readAll(path: shardFile(run, folder, $0)) }
}

/// A stage's journal of one shard (nil: of the global stage).
public func journalFile(_ run: String, _ folder: String, shard: Int?) -> String {
  RunDirectory(run).journalPath(folder, shard: shard)
}

import Foundation
import InstillCore
import InstillLLM
import Logging
import Synchronization

/// Running a map stage: the shards this task owns whose input is ready, a few
/// at once, each written and committed on its own.
extension Runner {
  func runMapStage(_ stage: PlannedStage) async throws -> RunOutcome {
    let position = stage.index - 1
    guard position > 0, let previous = Optional(pipeline.stages[position - 1]),
      let shards = shardCount(of: position - 1)
    else {
      return try notReady(stage, "the stages before it")
    }
    guard let mapStage = stage.stage as? any MapStage else {
      throw InstillError.failure("stage \(stage.name) is not a map stage")
    }
    let started = ContinuousClock.now
    var waitingFor: [Int] = []
    var todo: [Int] = []
    for shard in 0..<shards where options.owns(shard: shard) {
      if FileSystem.exists(directory.shardPath(stage.folder, shard)) { continue }
      if FileSystem.exists(directory.shardPath(previous.folder, shard)) {
        todo.append(shard)
      } else {
        waitingFor.append(shard)
      }
    }
    let deferred = try await processShards(todo, of: stage, mapStage, input: previous)
    if !todo.isEmpty { directory.addWallTime(seconds(since: started), folder: stage.folder) }
    try control.check()
    if deferred.count > 0 { throw deferred }
    if !waitingFor.isEmpty {
      return try notReady(
        stage, "input shards \(waitingFor.map(String.init).joined(separator: ", ")) of stage \(previous.name)")
    }
    let done = directory.finishedShards(stage.folder).filter { $0 < shards }
    if done.count == shards {
      let records = directory.diskStats(stage.folder).recordsOut
      try directory.writeManifest(
        StageManifest(shards: shards, records: records, fingerprint: stage.fingerprint), folder: stage.folder)
      measureDiversity(stage)
      logger.info("stage \(stage.name): complete (\(shards) shards, \(records) records)")
    } else {
      logger.info(
        "stage \(stage.name): this task's shards are done (\(done.count)/\(shards) in all) after \(seconds(since: started))s"
      )
      return .waiting("stage \(stage.name) has \(shards - done.count) shards left for other tasks")
    }
    return .complete
  }

  /// Processes `shards` of a map stage, a few at once. Shards are independent;
  /// a few at once keep an LLM server busy across shard ends. A shard left
  /// unfinished by transiently failed requests does not stop the others: their
  /// failures come back merged. Any other error stops the rest at a clean point
  /// and the most serious one is thrown.
  func processShards(
    _ shards: [Int], of stage: PlannedStage, _ mapStage: any MapStage,
    input previous: PlannedStage
  ) async throws -> RequestsDeferred {
    var deferred = RequestsDeferred(stage: stage.name, kinds: [:])
    try await withThrowingTaskGroup(of: Void.self) { group in
      var next = 0
      var running = 0
      while next < shards.count || running > 0 {
        while running < max(1, stage.stage.shardParallelism), next < shards.count, control.stopRequested == nil {
          let shard = shards[next]
          next += 1
          running += 1
          group.addTask { [self] in
            try await processShard(
              stage, mapStage, shard: shard, input: directory.shardPath(previous.folder, shard),
              output: directory.shardPath(stage.folder, shard))
          }
        }
        if running == 0 { break }
        do {
          try await group.next()
          running -= 1
        } catch let failure as RequestsDeferred {
          running -= 1
          deferred.merge(failure)
        } catch {
          control.requestStop("an error in stage \(stage.name)")
          var worst = MostSeriousError(error)
          while running > 1 {
            running -= 1
            do {
              try await group.next()
            } catch let other {
              worst.keep(other)
            }
          }
          throw worst.error ?? error
        }
      }
    }
    return deferred
  }

  func processShard(_ stage: PlannedStage, _ mapStage: any MapStage, shard: Int, input: String, output: String)
    async throws
  {
    let recorder = board.start(stage.folder, shard: shard, examplesPerReason: pipeline.examplesPerReason)
    defer { board.finish(stage.folder, shard: shard) }
    let started = ContinuousClock.now
    let reader = try RecordReader(path: input)
    defer { reader.close() }
    let writer = try RecordWriter(path: output, level: 1)
    let context = makeContext(stage, shard: shard, stats: recorder)
    let spentPath = directory.spendingPath(stage.folder, shard: shard)
    do {
      try await mapStage.process(reader, into: writer, context: context)
      recorder.update { $0.shardSeconds = seconds(since: started) }
      let stats = try finalStats(
        stage, recorder, spentPath: spentPath, shard: shard,
        to: directory.shardStatsPath(stage.folder, shard))
      try writer.finish()
      FileSystem.remove(spentPath)
      logger.debug("stage \(stage.name) shard \(shard): \(stats.recordsIn) in, \(stats.recordsOut) out")
    } catch {
      writer.abandon()
      rememberSpending(spentPath, recorder.snapshot.llm)
      throw error
    }
  }
}

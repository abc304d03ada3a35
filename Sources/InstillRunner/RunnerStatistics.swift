import Foundation
import InstillCore
import Synchronization

extension Runner {
  /// Rewrites `DIR/stats.json` with every stage's counts, the shards in progress
  /// included. A job-array task instead writes only its shards in progress to
  /// `DIR/live/task-NNNNN.json` (readers merge the running tasks' files with the
  /// finished shards on disk), so a thousand tasks do not each re-read every
  /// shard's statistics every few seconds; at its end it removes that file and
  /// writes `stats.json` once.
  public func writeStats(final: Bool = false) {
    if let index = options.shardIndex {
      let path = directory.liveTaskPath(index)
      if !final {
        try? FileSystem.createDirectory(directory.liveDirectory)
        try? FileSystem.writeAtomically(LiveTaskStats(stages: board.liveStats()).encoded(), to: path, durable: false)
        return
      }
      FileSystem.remove(path)
    }
    let report = StatsReport.build(
      directory: directory, plan: pipeline.plan, pipelineName: pipeline.name, live: board.liveStats(),
      cached: !final)
    try? FileSystem.writeAtomically(report.encoded(), to: directory.statsFile, durable: false)
  }

  func reportPeriodically() async {
    if let live = options.liveProgress {
      async let lines: Void = showLiveProgress(live)
      await writeStatsPeriodically(logProgress: false)
      await lines
      return
    }
    await writeStatsPeriodically(logProgress: true)
  }

  /// Redraws the live progress line every second until the run ends, then clears it.
  private func showLiveProgress(_ show: @Sendable (String?) -> Void) async {
    var line = ProgressLine()
    let targets = Dictionary(
      pipeline.stages.compactMap { s in s.stage.progressTarget.map { (s.name, $0) } },
      uniquingKeysWith: { a, _ in a })
    while !Task.isCancelled {
      let report = StatsReport.build(
        directory: directory, plan: pipeline.plan, pipelineName: pipeline.name, live: board.liveStats(),
        cached: true)
      // A stage's input size is known once the stage before it is complete.
      var inputs: [String: Int] = [:]
      for (i, entry) in report.stages.enumerated() where i > 0 && report.stages[i - 1].status == "complete" {
        inputs[entry.name] = report.stages[i - 1].stats.recordsOut
      }
      let inFlight = (llm as? InFlightBackend)?.inFlight ?? 0
      show(
        line.render(
          report: report, inputRecords: inputs, targets: targets, inFlight: inFlight,
          now: Date().timeIntervalSince1970))
      try? await Task.sleep(for: .seconds(1))
    }
    show(nil)
  }

  private func writeStatsPeriodically(logProgress: Bool) async {
    var sinceProgress = 0.0
    while !Task.isCancelled {
      try? await Task.sleep(for: .milliseconds(Int(options.statsInterval * 1000)))
      if Task.isCancelled { return }
      writeStats()
      sinceProgress += options.statsInterval
      if logProgress && sinceProgress >= options.progressInterval {
        sinceProgress = 0
        for (folder, stats) in board.liveStats() {
          logger.info(
            "progress \(folder): \(stats.recordsIn) in, \(stats.recordsOut) out, \(stats.llm.requestsSent) requests")
        }
      }
    }
  }
}

/// Live recorders of the shards being processed right now.
final class LiveBoard: Sendable {
  private let recorders = Mutex<[String: [Int: StatsRecorder]]>([:])

  func start(_ folder: String, shard: Int, examplesPerReason: Int) -> StatsRecorder {
    let recorder = StatsRecorder(examplesPerReason: examplesPerReason)
    recorders.withLock { $0[folder, default: [:]][shard] = recorder }
    return recorder
  }

  func finish(_ folder: String, shard: Int) {
    recorders.withLock { _ = $0[folder]?.removeValue(forKey: shard) }
  }

  func liveStats() -> [String: StageStats] {
    let current = recorders.withLock { $0 }
    var out: [String: StageStats] = [:]
    for (folder, shards) in current where !shards.isEmpty {
      var total = StageStats()
      for recorder in shards.values { total.merge(recorder.snapshot) }
      out[folder] = total
    }
    return out
  }
}

import Foundation
import InstillCore
import InstillLLM

/// The merged statistics of a run (`DIR/stats.json`, `instill stats --json`).
/// Keys are sorted and never renamed; new keys may be added.
public struct StatsReport: Codable, Sendable {
  public struct StageEntry: Codable, Sendable {
    public var index: Int
    public var name: String
    public var kind: String
    /// `complete`, `running`, `partial` (some shards done) or `pending`.
    public var status: String
    public var shardsTotal: Int?
    public var shardsDone: Int
    /// records_in == records_out + dropped (always true for stages that only filter).
    public var countsAddUp: Bool
    public var stats: StageStats
    /// How varied the output's instructions are (complete stages whose records have instructions).
    public var diversity: Diversity?
    /// What the stage's paid requests cost under the run's prices (stages that paid for requests).
    public var cost: StageCost?

    enum CodingKeys: String, CodingKey {
      case index, name, kind, status, stats, diversity, cost
      case shardsTotal = "shards_total", shardsDone = "shards_done", countsAddUp = "counts_add_up"
    }
  }

  /// The version of this JSON layout (1); it changes only if a key changes meaning.
  public var schemaVersion: Int?
  public var pipeline: String
  public var complete: Bool
  /// The stage a process is working on now, if any (the first one running).
  public var runningStage: String?
  /// When these statistics were computed (ISO 8601, UTC).
  public var updatedAt: String?
  public var stages: [StageEntry]
  /// The run's cost and cost per exported example (runs that paid for requests).
  public var cost: RunCost?

  public static let currentSchemaVersion = 1

  enum CodingKeys: String, CodingKey {
    case schemaVersion = "schema_version", pipeline, complete, runningStage = "running_stage", updatedAt = "updated_at"
    case stages, cost
  }

  public static func build(
    directory: RunDirectory, plan: [PlanEntry], pipelineName: String, live: [String: StageStats],
    cached: Bool = false
  ) -> StatsReport {
    var entries: [StageEntry] = []
    let prices = directory.readPrices()
    for (entry, manifest, total) in directory.stageSizes(plan) {
      var stats = directory.diskStats(entry.folder, cached: cached)
      let running = live[entry.folder]
      if let running { stats.merge(running) }
      let done = manifest?.shards ?? directory.finishedShards(entry.folder).count
      let status: String
      if manifest != nil {
        status = "complete"
      } else if running != nil {
        status = "running"
      } else if done > 0 {
        status = "partial"
      } else {
        status = "pending"
      }
      entries.append(
        StageEntry(
          index: entry.index, name: entry.name, kind: entry.kind, status: status, shardsTotal: total,
          shardsDone: entry.shape == StageShape.global.rawValue && manifest == nil ? 0 : done,
          countsAddUp: stats.recordsIn == stats.recordsOut + stats.droppedTotal, stats: stats,
          // The periodic rewrites during a run only read a stored measure; the stage measures it when it completes.
          diversity: manifest.flatMap {
            cached
              ? Diversity.stored(directory: directory, folder: entry.folder, manifest: $0).measured
              : Diversity.measured(directory: directory, folder: entry.folder, manifest: $0)
          }, cost: StageCost.of(stats, prices: prices)))
    }
    let formatter = ISO8601DateFormatter()
    return StatsReport(
      schemaVersion: currentSchemaVersion, pipeline: pipelineName,
      complete: entries.allSatisfy { $0.status == "complete" },
      runningStage: entries.first { $0.status == "running" }?.name, updatedAt: formatter.string(from: Date()),
      stages: entries, cost: RunCost.of(entries, prices: prices))
  }

  /// Recomputes the report from a run directory alone (no running process needed).
  public static func load(directory: RunDirectory) throws(InstillError) -> StatsReport {
    guard let plan = directory.readPlan() else {
      throw InstillError.input("not a run directory (no plan.json): \(directory.path)", file: directory.path)
    }
    let onDisk = (try? FileSystem.read(directory.statsFile)).flatMap {
      try? JSONDecoder().decode(StatsReport.self, from: Data($0))
    }
    var live: [String: StageStats] = [:]
    switch RunLock.holders(directory: directory.path) {
    case .run:
      // A whole run's stats.json includes its shards in progress.
      if let onDisk { return onDisk }
    case .tasks(_, let running):
      // Job-array tasks publish their shards in progress in DIR/live/.
      live = LiveTaskStats.merged(in: directory, tasks: running)
    case .free:
      break
    }
    return build(
      directory: directory, plan: plan, pipelineName: onDisk?.pipeline ?? frozenName(directory) ?? "", live: live)
  }

  /// The `name:` of the run's frozen pipeline file.
  static func frozenName(_ directory: RunDirectory) -> String? {
    guard let bytes = try? FileSystem.read(directory.frozenPipeline) else { return nil }
    return String(decoding: bytes, as: UTF8.self).firstMatch(of: /(?m)^name:[ \t]*["']?([^"'\n#]*?)["']?[ \t]*(#.*)?$/)
      .map { String($0.1) }
  }

  public func encoded() -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return ((try? [UInt8](encoder.encode(self))) ?? []) + [0x0A]
  }

  /// Every kept example of one drop reason, whole: `REASON` matches that reason
  /// in any filter of any stage, `FILTER:REASON` only that filter's, and
  /// `STAGE/FILTER:REASON` only that stage's. Empty when nothing matches.
  public func examples(of query: String) -> String {
    var stageName: String?
    var rest = query
    if let slash = rest.firstIndex(of: "/") {
      stageName = String(rest[..<slash])
      rest = String(rest[rest.index(after: slash)...])
    }
    // Reasons may hold colons themselves (`keyword:image`): try `FILTER:REASON`, then the whole as a reason.
    var readings: [(filter: String?, reason: String)] = [(nil, rest)]
    if let colon = rest.firstIndex(of: ":") {
      readings.insert((String(rest[..<colon]), String(rest[rest.index(after: colon)...])), at: 0)
    }
    var out = ""
    for entry in stages where stageName == nil || entry.name == stageName || entry.kind == stageName {
      for f in entry.stats.filters {
        guard
          let reading = readings.first(where: {
            ($0.filter == nil || $0.filter == f.name) && f.examples[$0.reason] != nil
          }),
          let list = f.examples[reading.reason]
        else { continue }
        let dropped = f.dropped[reading.reason] ?? 0
        out +=
          "\(entry.name) / \(f.name) / \(reading.reason): \(dropped) dropped, \(list.count) example\(list.count == 1 ? "" : "s") kept\n"
        for (i, example) in list.enumerated() { out += "--- \(i + 1)\n\(example)\n" }
        out += "\n"
      }
    }
    return out
  }

  /// A readable table: one row per stage, then each filter's counts and examples.
  public func table(examples: Bool = true) -> String {
    var rows: [[String]] = [["STAGE", "KIND", "STATUS", "SHARDS", "IN", "OUT", "DROPPED", "REQUESTS", "TOKENS"]]
    for s in stages {
      let shards = "\(s.shardsDone)/\(s.shardsTotal.map(String.init) ?? "?")"
      let llm = s.stats.llm
      rows.append([
        pad2(s.index) + "-" + s.name, s.kind, s.status, shards, "\(s.stats.recordsIn)", "\(s.stats.recordsOut)",
        "\(s.stats.droppedTotal)",
        llm.requestsSent + llm.answeredFromJournal == 0 ? "-" : "\(llm.requestsSent)+\(llm.answeredFromJournal)j",
        llm.promptTokens + llm.completionTokens == 0 ? "-" : "\(llm.promptTokens + llm.completionTokens)",
      ])
    }
    var out = Self.align(rows)
    if let runningStage, let entry = stages.first(where: { $0.name == runningStage }) {
      out +=
        "\nrunning: stage \(entry.name), \(entry.shardsDone) of \(entry.shardsTotal.map(String.init) ?? "?") shards done, "
        + "\(entry.stats.recordsIn) records in so far\n"
    }
    for s in stages
    where !s.stats.filters.isEmpty || !s.stats.dropped.isEmpty || !s.stats.counters.isEmpty || !s.stats.scores.isEmpty
      || s.diversity != nil || !s.stats.steering.isEmpty || s.cost != nil
    {
      out += "\n\(pad2(s.index))-\(s.name):\n"
      out += Self.funnel(s.stats)
      let llm = s.stats.llm
      if !llm.isEmpty {
        let failed = llm.failed.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        out +=
          "  llm: \(llm.requestsSent) sent, \(llm.answeredFromJournal) from journal, \(llm.retried) retried, "
          + "\(llm.failed.values.reduce(0, +)) failed\(failed.isEmpty ? "" : " (\(failed))"); "
          + "tokens \(llm.promptTokens) prompt + \(llm.completionTokens) completion\n"
        if let thinking = Self.thinkingText(llm) { out += "  thinking: \(thinking)\n" }
      }
      if let cost = s.cost {
        out += "  cost: \(cost.summary)\n"
        if let cascade = cost.cascadeSummary { out += "  cascade: \(cascade)\n" }
      }
      for (reason, n) in s.stats.dropped.sorted(by: { $0.key < $1.key }) {
        out += "  dropped \(reason): \(n)\n"
      }
      for f in s.stats.filters {
        let reasons = f.dropped.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        out +=
          "  filter \(f.name): seen \(f.seen), kept \(f.kept), dropped \(f.droppedTotal)\(reasons.isEmpty ? "" : " (\(reasons))")\n"
        if examples {
          for (reason, list) in f.examples.sorted(by: { $0.key < $1.key }) {
            for example in list.prefix(3) {  // all of them: instill stats --examples REASON
              out += "    e.g. \(reason): \(example.replacingOccurrences(of: "\n", with: " ").prefix(120))\n"
            }
          }
        }
      }
      out += Self.counterText(s.stats.counters)
      for (criterion, histogram) in s.stats.scores.sorted(by: { $0.key < $1.key }) {
        let counts = histogram.orderedScores.map { "\($0)×\(histogram.counts[$0] ?? 0)" }.joined(separator: " ")
        out += "  scores \(criterion): \(counts)\n"
      }
      for (kind, values) in s.stats.steering.sorted(by: { $0.key < $1.key }) {
        out += "  \(kind)s: " + Self.steeringText(values) + "\n"
      }
      if let diversity = s.diversity {
        out += "  " + diversity.summary + "\n"
        for (kind, mix) in [("topic", diversity.topics), ("persona", diversity.personas)] where !mix.isEmpty {
          let top = mix.byCountDescending.prefix(8)
          out +=
            "  \(kind) mix of the output: \(mix.count) \(kind)s; "
            + top.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + (mix.count > 8 ? ", …" : "") + "\n"
        }
      }
      if let p50 = s.stats.llm.latencyPercentile(0.5), let p95 = s.stats.llm.latencyPercentile(0.95) {
        out += "  latency p50 \(Int(p50)) ms, p95 \(Int(p95)) ms\n"
      }
    }
    if let cost { out += "\n" + cost.summary + "\n" }
    return out
  }

  /// How much of a stage's output went to thinking: `412 reasoning tokens (61% of
  /// completion tokens); traces in 30 of 30 replies, 58% of reply text; 2 cut while thinking`.
  /// Nil when no reply thought.
  public static func thinkingText(_ llm: LLMStats) -> String? {
    let t = llm.thinking
    guard t.thought || llm.reasoningTokens > 0 else { return nil }
    var parts: [String] = []
    if llm.reasoningTokens > 0 {
      let share = llm.completionTokens == 0 ? 0 : 100 * Double(llm.reasoningTokens) / Double(llm.completionTokens)
      parts.append("\(llm.reasoningTokens) reasoning tokens (\(Int(share.rounded()))% of completion tokens)")
    }
    if t.thought {
      parts.append(
        "traces in \(t.thinkingReplies) of \(t.replies) replies, \(Int((100 * t.reasoningShare).rounded()))% of reply text"
      )
    }
    if t.unclosed > 0 { parts.append("\(t.unclosed) cut while thinking (reasoning_truncated)") }
    return parts.joined(separator: "; ")
  }

  /// `300 topics drawn by 120 prompts, 80 kept; most kept: cooking 5/7, …` (kept/prompts).
  static func steeringText(_ values: [String: SteeringCount]) -> String {
    let prompts = values.values.reduce(0) { $0 + $1.prompts }
    let kept = values.values.reduce(0) { $0 + $1.kept }
    let top = values.byKeptDescending.prefix(6)
    return "\(values.count) drawn by \(prompts) prompts, \(kept) records kept; most kept (kept/prompts): "
      + top.map { "\($0.key) \($0.value.kept)/\($0.value.prompts)" }.joined(separator: ", ")
      + (values.count > 6 ? ", …" : "")
  }

  /// `funnel: 123 in → 80 kept (65.0%) | truncated 33 (26.8%), …`, largest drops first.
  static func funnel(_ stats: StageStats) -> String {
    guard stats.recordsIn > 0 else { return "" }
    func share(_ n: Int) -> String { String(format: "%.1f%%", 100 * Double(n) / Double(stats.recordsIn)) }
    var drops: [(String, Int)] = stats.dropped.map { ($0.key, $0.value) }
    for f in stats.filters { drops += f.dropped.map { ("\(f.name):\($0.key)", $0.value) } }
    drops.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    let parts = drops.map { "\($0.0) \($0.1) (\(share($0.1)))" }.joined(separator: ", ")
    return "  funnel: \(stats.recordsIn) in → \(stats.recordsOut) kept (\(share(stats.recordsOut)))"
      + (parts.isEmpty ? "" : " | " + parts) + "\n"
  }

  /// Plain counters one per line; counters named `family.row.column` (e.g.
  /// `round.1.tried`, `operation.deepen.succeeded`) as one table per family.
  static func counterText(_ counters: [String: Int]) -> String {
    var out = ""
    var tables: [String: [String: [String: Int]]] = [:]
    for (name, n) in counters.sorted(by: { $0.key < $1.key }) {
      let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
      guard parts.count == 3 else {
        out += "  \(name): \(n)\n"
        continue
      }
      tables[parts[0], default: [:]][parts[1], default: [:]][parts[2]] = n
    }
    for (family, rows) in tables.sorted(by: { $0.key < $1.key }) {
      let leading = ["tried", "succeeded"]
      let others = Set(rows.values.flatMap(\.keys)).subtracting(leading).sorted()
      let columns = leading.filter { c in rows.values.contains { $0[c] != nil } } + others
      var table = [[family] + columns]
      let names = rows.keys.sorted { a, b in Int(a).flatMap { x in Int(b).map { x < $0 } } ?? (a < b) }
      for row in names { table.append([row] + columns.map { rows[row]?[$0].map(String.init) ?? "0" }) }
      out += Self.align(table).split(separator: "\n").map { "  " + $0 + "\n" }.joined()
    }
    return out
  }

  static func align(_ rows: [[String]]) -> String {
    guard let width = rows.first?.count else { return "" }
    let widths = (0..<width).map { c in rows.map { $0[c].count }.max() ?? 0 }
    return rows.map { row in
      row.enumerated().map { c, cell in
        c == width - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
      }
      .joined(separator: "  ")
    }.joined(separator: "\n") + "\n"
  }
}

func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

extension StatsReport {
  /// What `instill status` prints.
  public func statusText(directory: String, holders: RunLock.Holders) -> String {
    var rows: [[String]] = [["STAGE", "KIND", "STATUS", "SHARDS DONE", "PENDING", "RECORDS OUT", "REQUESTS"]]
    var sent = 0, journal = 0
    for s in stages {
      let pending = s.shardsTotal.map { String(max(0, $0 - s.shardsDone)) } ?? "?"
      rows.append([
        pad2(s.index) + "-" + s.name, s.kind, s.status, "\(s.shardsDone)", pending, "\(s.stats.recordsOut)",
        "\(s.stats.llm.requestsSent)",
      ])
      sent += s.stats.llm.requestsSent
      journal += s.stats.llm.answeredFromJournal
    }
    var out = "run directory: \(directory)\n"
    out += "pipeline: \(pipeline)\n"
    out += "state: \(complete ? "complete" : "incomplete")\n"
    switch holders {
    case .free:
      out += "lock: free\n"
    case .run(let pid):
      out += "lock: held by pid \(pid) (a run is in progress)\n"
    case .tasks(let count, let running):
      out +=
        "lock: held by \(running.count) job-array task\(running.count == 1 ? "" : "s") of \(count) "
        + "(--shard-index \(RunDirectory.arraySpec(running)))\n"
    }
    out += "LLM requests: \(sent) sent, \(journal) answered from journal\n"
    out += Self.batchesInFlight(RunDirectory(directory))
    out += "\n" + Self.align(rows)
    return out
  }

  /// `batches in flight: 2` and a line per batch (id, stage and shard, requests, age), when any.
  static func batchesInFlight(_ directory: RunDirectory) -> String {
    var lines: [String] = []
    let now = Date().timeIntervalSince1970
    for folder in FileSystem.list(directory.stagesDirectory).sorted() {
      let journal = directory.stageDirectory(folder) + "/journal"
      for name in FileSystem.list(journal).sorted() where name.hasSuffix(".batches.jsonl") {
        for batch in RecordedBatch.read(journal + "/" + name) where batch.inFlight {
          let shard = name.replacingOccurrences(of: ".batches.jsonl", with: "")
          lines.append(
            "  \(batch.id): \(folder) \(shard), \(batch.keys.count) requests, \(batch.status), "
              + "age \(ProgressLine.duration(max(0, now - batch.createdAt)))")
        }
      }
    }
    return lines.isEmpty ? "" : "batches in flight: \(lines.count)\n" + lines.joined(separator: "\n") + "\n"
  }
}

import Foundation
import InstillCore
import InstillRunner
import InstillTestSupport
import Testing

/// `instill run --metrics-file`: Prometheus text format for node_exporter's textfile collector.
struct MetricsTests {
  /// A read → generate (→ export) pipeline against a fake endpoint that answers after `delay` ms.
  func slowPipeline(_ dir: TempDir, records: Int, perShard: Int, concurrency: Int, delay: Int, export: Bool) throws
    -> (TestHTTPServer, String)
  {
    let server = try TestHTTPServer { _, _, body in
      try? await Task.sleep(for: .milliseconds(delay))
      return FakeModel.respond("An answer.", chat: FakeModel.promptText(body)?.endpointIsChat ?? true)
    }
    var lines = ""
    for i in 0..<records { lines += "{\"instruction\": \"Question \(i)?\"}\n" }
    dir.write("q.jsonl", lines)
    let pipeline = dir.write(
      "p.yaml",
      """
      name: slow
      llm: {provider: openai, base_url: \(server.baseURL), model: fake, max_concurrency: \(concurrency)}
      stages:
        - kind: read
          path: q.jsonl
          records_per_shard: \(perShard)
        - kind: generate
          prompt: "{instruction}"
      """ + (export ? "\n  - kind: export\n" : "\n"))
    return (server, pipeline)
  }

  /// One stage's entry in `instill stats --json` output.
  static func stage(_ stats: JSONObject, _ name: String) -> JSONObject {
    stats["stages"]?.arrayValue?.first { $0.objectValue?["name"] == .string(name) }?.objectValue ?? [:]
  }

  /// `instill stats --json` of a run (empty when it cannot be read yet) and its `generate` stage.
  func generateInProgress(_ run: String) async throws -> (stats: JSONObject, generate: JSONObject) {
    let result = try await instill("stats", run, "--json")
    let stats = result.status == 0 ? (try? JSONParser.parse(result.stdout).objectValue) ?? [:] : [:]
    return (stats, Self.stage(stats, "generate"))
  }

  func sample(_ text: String, _ name: String, _ labels: [String: String]) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + "{") {
      guard let close = line.lastIndex(of: "}") else { continue }
      let labelText = line[line.index(line.startIndex, offsetBy: name.count + 1)..<close]
      var found: [String: String] = [:]
      for match in String(labelText).matches(of: /([a-z_]+)="((?:[^"\\]|\\.)*)"/) {
        #expect(found[String(match.output.1)] == nil, "label \(match.output.1) twice in \(line)")
        found[String(match.output.1)] = String(match.output.2)
      }
      if labels.allSatisfy({ found[$0.key] == $0.value }) {
        return Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
      }
    }
    return nil
  }

  @Test func aRunWritesItsCountsAndExitCodeAsPrometheusMetrics() async throws {
    let dir = TempDir()
    var lines = ""
    for i in 0..<30 {
      let output = i % 3 == 0 ? "I'm sorry, but I cannot answer \(i)." : "Answer number \(i)."
      lines += JSONWriter.string(.object(["instruction": .string("Question \(i)?"), "output": .string(output)])) + "\n"
    }
    dir.write("in.jsonl", lines)
    let pipeline = dir.write(
      "p.yaml",
      """
      name: metrics-demo
      stages:
        - kind: read
          path: in.jsonl
        - name: quality
          kind: filter
          filters: [{type: refusal}]
        - kind: export
      """)
    let run = dir.file("run")
    let metrics = dir.file("textfile/instill.prom")
    try FileManager.default.createDirectory(atPath: dir.file("textfile"), withIntermediateDirectories: true)
    try await instill(expect: 0, "run", pipeline, "--run-dir", run, "--metrics-file", metrics)
    let text = try String(contentsOfFile: metrics, encoding: .utf8)
    #expect(text.hasSuffix("\n"))
    #expect(text.contains("# TYPE instill_stage_records_in_total counter"))
    #expect(sample(text, "instill_stage_records_in_total", ["stage": "quality", "pipeline": "metrics-demo"]) == 30)
    #expect(sample(text, "instill_stage_records_out_total", ["stage": "quality"]) == 20)
    #expect(
      sample(
        text, "instill_stage_dropped_total",
        ["stage": "quality", "filter": "refusal", "reason": "refusal:i'm sorry, but"]) == 10)
    #expect(sample(text, "instill_run_last_exit_code", [:]) == 0)
    #expect(sample(text, "instill_run_complete", [:]) == 1)
    let success = try #require(sample(text, "instill_run_last_success_timestamp_seconds", [:]))
    #expect(abs(success - Date().timeIntervalSince1970) < 120)
    // Every sample line is `name{labels} value`, and each family has one TYPE line.
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      #expect(line.contains(/^instill_[a-z_]+\{[^}]*\} [0-9.e+-]+$/), "\(line)")
    }
    let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE") }
    #expect(Set(types).count == types.count)
    #expect(FileSystem.list(dir.file("textfile")) == ["instill.prom"], "no temporary file left for the collector")

    // A later invocation that fails keeps the time of the last success and reports its exit code.
    try await Task.sleep(for: .milliseconds(1100))
    dir.write(
      "p.yaml",
      "name: metrics-demo\nstages:\n  - kind: read\n    path: in.jsonl\n  - name: quality\n    kind: filter\n    filters: [{type: refusal}]\n  - kind: export\n    format: alpaca\n"
    )
    try await instill(expect: 2, "run", pipeline, "--run-dir", run, "--metrics-file", metrics)
    let after = try String(contentsOfFile: metrics, encoding: .utf8)
    #expect(sample(after, "instill_run_last_exit_code", [:]) == 2)
    #expect(sample(after, "instill_run_last_success_timestamp_seconds", [:]) == success)
  }
}

extension MetricsTests {
  /// `instill stats --json` of a run in progress parses, has a schema version,
  /// and names the running stage and how far it is.
  @Test func statsOfARunInProgressNameTheRunningStage() async throws {
    let dir = TempDir()
    let (server, pipeline) = try slowPipeline(dir, records: 60, perShard: 20, concurrency: 1, delay: 300, export: true)
    defer { server.stop() }
    let run = dir.file("run")
    let process = try launchInstill(["run", pipeline, "--run-dir", run, "--quiet", "--stats-interval", "0.5"])
    defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    var seen: JSONObject?
    for _ in 0..<100 {
      try await Task.sleep(for: .milliseconds(200))
      let (stats, generate) = try await generateInProgress(run)
      if stats["running_stage"] == .string("generate"),
        (generate["stats"]?.objectValue?["records_in"]?.intValue ?? 0) > 0
      {
        seen = stats
        break
      }
    }
    let stats = try #require(seen, "stats --json never showed the generate stage running")
    #expect(stats["schema_version"] == .int(1))
    #expect(stats["complete"] == .bool(false))
    #expect(stats["updated_at"]?.stringValue?.hasPrefix("20") == true)
    let generate = Self.stage(stats, "generate")
    #expect(generate["status"] == .string("running"))
    #expect(generate["shards_total"] == .int(3))
    let table = try await instill("stats", run)
    #expect(table.stdout.contains("running: stage generate, "), "\(table.stdout)")
    kill(process.processIdentifier, SIGTERM)
    await waitForExit(process)
  }
}

extension MetricsTests {
  /// On a terminal (a pseudo-terminal from `script`), `instill run` keeps one
  /// live progress line; with stderr not a terminal it writes plain lines only.
  @Test func aTerminalGetsALiveProgressLineAndAPipeGetsPlainLines() async throws {
    let dir = TempDir()
    let (server, pipeline) = try slowPipeline(dir, records: 40, perShard: 10, concurrency: 2, delay: 150, export: false)
    defer { server.stop() }
    let command = "'\(Binary.path)' run '\(pipeline)' --run-dir '\(dir.file("tty"))'"
    let tty = try await runProgram("/usr/bin/script", ["-qec", command, "/dev/null"])
    #expect(tty.status == 0, "\(tty.stdout)")
    let screen = tty.stdout
    #expect(screen.contains("\u{1B}[2Kstage 2 generate · shards "), "\(screen.prefix(2000))")
    #expect(screen.contains("rec/s") && screen.contains("in flight") && screen.contains("ETA "))
    #expect(!screen.contains("progress 02-generate"), "plain progress lines on a terminal")

    let plain = try await instill(expect: 0, "run", pipeline, "--run-dir", dir.file("pipe"), "--stats-interval", "1")
    #expect(!plain.stderr.contains("\u{1B}["), "escape sequences in a log that is not a terminal")
    #expect(!plain.stderr.contains("rec/s"))
  }
}

/// Request latencies: an HDR histogram kept sparse in the statistics.
struct LatencyTests {
  @Test func percentilesAreWithinOnePercentAndShardsMergeExactly() throws {
    var all = LLMStats()
    var first = LLMStats()
    var second = LLMStats()
    for ms in 1...2000 {
      all.recordLatency(milliseconds: Double(ms))
      if ms % 2 == 0 {
        first.recordLatency(milliseconds: Double(ms))
      } else {
        second.recordLatency(milliseconds: Double(ms))
      }
    }
    let p50 = try #require(all.latencyPercentile(0.5))
    let p95 = try #require(all.latencyPercentile(0.95))
    #expect(abs(p50 - 1000) <= 10, "\(p50)")
    #expect(abs(p95 - 1900) <= 19, "\(p95)")
    first.merge(second)
    #expect(first.latencyMilliseconds == all.latencyMilliseconds)
    #expect(all.latencyMilliseconds.count < 700, "sparse: \(all.latencyMilliseconds.count) keys for 2000 values")
    let decoded = try JSONDecoder().decode(LLMStats.self, from: JSONEncoder().encode(all))
    #expect(decoded == all)
    // Statistics from before the histogram (power-of-two buckets) still load, without latencies.
    let old = try JSONDecoder().decode(
      LLMStats.self, from: Data(#"{"requests_sent": 3, "latency_ms_buckets": {"40": 3}}"#.utf8))
    #expect(old.requestsSent == 3 && old.latencyPercentile(0.5) == nil)
    #expect(LLMStats().latencyPercentile(0.5) == nil)
  }
}

extension MetricsTests {
  /// Job-array tasks do not rewrite the whole run's stats.json while they work:
  /// each publishes its shards in progress in DIR/live/, and `instill stats`
  /// merges those of the tasks still running with the finished shards.
  @Test func jobArrayTasksPublishTheirShardsInProgress() async throws {
    let dir = TempDir()
    let (server, pipeline) = try slowPipeline(dir, records: 80, perShard: 20, concurrency: 1, delay: 250, export: true)
    defer { server.stop() }
    let run = dir.file("run")
    #expect(try await instill("run", pipeline, "--run-dir", run, "--stage", "read").status == 0)
    FileSystem.remove(run + "/stats.json")
    let tasks = try (0..<2).map { index in
      try launchInstill([
        "run", pipeline, "--run-dir", run, "--quiet", "--stats-interval", "0.5",
        "--shard-index", "\(index)", "--shard-count", "2",
      ])
    }
    defer { for task in tasks where task.isRunning { kill(task.processIdentifier, SIGKILL) } }
    func generateIn() async throws -> (Int, JSONObject) {
      let (stats, generate) = try await generateInProgress(run)
      return (generate["stats"]?.objectValue?["records_in"]?.intValue ?? 0, stats)
    }
    var both = false
    for _ in 0..<100 where !both {
      try await Task.sleep(for: .milliseconds(200))
      let records = try await generateIn().0
      both =
        FileSystem.exists(run + "/live/task-00000.json") && FileSystem.exists(run + "/live/task-00001.json")
        && records >= 2
    }
    #expect(both, "the two tasks' shards in progress never showed")
    #expect(!FileSystem.exists(run + "/stats.json"), "a task rewrote the whole run's stats.json while working")
    let (_, stats) = try await generateIn()
    #expect(stats["running_stage"] == .string("generate"))
    #expect(stats["pipeline"] == .string("slow"))

    // A killed task's file stays behind but no longer counts.
    kill(tasks[1].processIdentifier, SIGKILL)
    await waitForExit(tasks[1])
    let frozen = try String(contentsOfFile: run + "/live/task-00001.json", encoding: .utf8)
    let killedIn =
      (try JSONParser.parse(frozen).objectValue?["stages"]?.objectValue?["02-generate"]?
        .objectValue?["records_in"]?.intValue) ?? 0
    #expect(killedIn > 0)
    // Freeze task 0 (its lock stays held): the in-progress count is then exactly its file's.
    kill(tasks[0].processIdentifier, SIGSTOP)
    let frozen0 =
      (try? JSONParser.parse(String(contentsOfFile: run + "/live/task-00000.json", encoding: .utf8)))?
      .objectValue?["stages"]?.objectValue?["02-generate"]?.objectValue?["records_in"]?.intValue ?? -1
    let (merged, _) = try await generateIn()
    kill(tasks[0].processIdentifier, SIGCONT)
    try #require(
      RunDirectory(run).finishedShards("02-generate").isEmpty, "a shard finished already; counts not comparable")
    #expect(merged == frozen0, "task 1's stale in-progress counts (\(killedIn)) were merged")

    // The task that ends removes its file and writes stats.json once.
    kill(tasks[0].processIdentifier, SIGTERM)
    await waitForExit(tasks[0])
    #expect(tasks[0].terminationStatus == 3)
    #expect(!FileSystem.exists(run + "/live/task-00000.json"))
    #expect(FileSystem.exists(run + "/stats.json"))
  }
}

import Foundation
import InstillCore
import InstillRunner
import InstillTestSupport
import Testing

/// End-to-end tests of `instill run`, `status`, `stats` and `validate`, driving
/// the built binary the way a user or a cron job does.
@Suite(.serialized)
struct RunCommandTests {
  /// A pipeline over `count` generated records, split into many shards.
  @Test func completeRunThenRerunChangesNothing() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 3000)
    let run = dir.file("run")
    let first = try await instill("run", p, "--run-dir", run)
    #expect(first.status == 0, "\(first.stderr)")
    let before = treeDigest(run + "/data")
    #expect(before.keys.contains("dataset.json"))
    #expect(before.keys.contains("README.md"))
    #expect(before.keys.contains { $0.hasPrefix("train-00000-of-") })
    #expect(before.keys.contains { $0.hasPrefix("validation-00000-of-00001") })
    let mtime = try FileManager.default.attributesOfItem(atPath: run + "/data/dataset.json")[.modificationDate] as? Date
    let second = try await instill("run", p, "--run-dir", run)
    #expect(second.status == 0)
    #expect(treeDigest(run + "/data") == before)
    let mtime2 =
      try FileManager.default.attributesOfItem(atPath: run + "/data/dataset.json")[.modificationDate] as? Date
    #expect(mtime == mtime2, "a complete run re-run must not rewrite the dataset")

    // dataset.json agrees with the files.
    let manifest = try JSONParser.parse(String(decoding: FileSystem.read(run + "/data/dataset.json"), as: UTF8.self))
      .objectValue
    var total = 0
    for split in ["train", "validation"] {
      for shard in manifest?["splits"]?.objectValue?[split]?.objectValue?["shards"]?.arrayValue ?? [] {
        let o = shard.objectValue!
        let file = run + "/data/" + o["file"]!.stringValue!
        let bytes = try FileSystem.read(file)
        #expect(o["sha256"]?.stringValue == SHA256.hex(bytes))
        #expect(o["bytes"]?.intValue == bytes.count)
        let n = try RecordReader.count(path: file)
        #expect(o["records"]?.intValue == n)
        total += n
      }
    }
    #expect(total == manifest?["records"]?.intValue)
    let card = String(decoding: try FileSystem.read(run + "/data/README.md"), as: UTF8.self)
    #expect(card.hasPrefix("---\nconfigs:"))
    #expect(card.contains("split: validation"))
  }

  @Test func killNineAtRandomMomentsGivesAnIdenticalDataset() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 60_000, perShard: 2000)
    let reference = dir.file("reference")
    #expect(try await instill("run", p, "--run-dir", reference).status == 0)
    let expected = treeDigest(reference + "/data")

    let victim = dir.file("victim")
    // A fixed schedule, so a failure can be replayed (kill moments vary with machine load all the same).
    var random = SeededRandom(seed: 20_261_123)
    var kills = 0
    for _ in 0..<8 {
      let process = try launchInstill(["run", p, "--run-dir", victim, "--quiet"], stderr: FileHandle.nullDevice)
      try await Task.sleep(for: .microseconds(20_000 + random.below(900_000)))
      if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        kills += 1
      }
      await waitForExit(process)
    }
    let final = try await instill("run", p, "--run-dir", victim)
    #expect(final.status == 0, "\(final.stderr)")
    #expect(kills > 0, "the run finished before any kill; make it larger")
    #expect(treeDigest(victim + "/data") == expected)
    // No leftovers that look like finished output.
    let leftovers =
      FileManager.default.enumerator(atPath: victim)?.allObjects.compactMap { $0 as? String }
      .filter { $0.hasSuffix(".tmp") || $0.contains(".tmp/") || $0.hasSuffix(".old") } ?? []
    #expect(leftovers.isEmpty, "\(leftovers)")
  }

  @Test func lockedRunDirectoryExits4AtOnce() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 100)
    let run = dir.file("run")
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    // Another process holds the lock (a POSIX record lock, as instill takes it).
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    holder.arguments = [
      "python3", "-c",
      "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
      run + "/lock",
    ]
    let out = Pipe()
    holder.standardOutput = out
    try holder.run()
    defer { kill(holder.processIdentifier, SIGKILL) }
    let held = UncheckedBox(out.fileHandleForReading)
    _ = try await offPool { held.value.availableData }  // waits for "held"
    let started = Date()
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 4)
    #expect(result.stderr.contains("another instill process"))
    #expect(Date().timeIntervalSince(started) < 5)
    let status = try await instill("status", run)
    #expect(status.stdout.contains("lock: held by pid"))
    #expect(!FileSystem.exists(run + "/data"))
  }

  @Test func maxTimeStopsWithExit3AndTheNextRunCompletes() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 80_000, perShard: 1000)
    let reference = dir.file("reference")
    #expect(try await instill("run", p, "--run-dir", reference).status == 0)

    let run = dir.file("run")
    let stopped = try await instill("run", p, "--run-dir", run, "--max-time", "0.3")
    #expect(stopped.status == 3, "\(stopped.stderr)")
    #expect(stopped.stderr.contains("--max-time"))
    #expect(!FileSystem.exists(run + "/data"))
    let status = try await instill("status", run)
    #expect(status.stdout.contains("state: incomplete"))
    let resumed = try await instill("run", p, "--run-dir", run)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(treeDigest(run + "/data") == treeDigest(reference + "/data"))
  }

  @Test func sigtermStopsCleanlyAndResumes() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 80_000, perShard: 1000)
    let run = dir.file("run")
    let err = Pipe()
    let process = try launchInstill(["run", p, "--run-dir", run], stderr: err)
    try await Task.sleep(for: .milliseconds(700))
    process.terminate()
    let errHandle = UncheckedBox(err.fileHandleForReading)
    let log = String(decoding: try await offPool { errHandle.value.readDataToEndOfFile() }, as: UTF8.self)
    await waitForExit(process)
    #expect(process.terminationStatus == 3, "\(log)")
    #expect(log.contains("SIGTERM received"))
    #expect(try await instill("run", p, "--run-dir", run).status == 0)
  }

  @Test func badUsageExits2AndSaysWhatIsWrong() async throws {
    let unknown = try await instill("run", "p.yaml", "--run-dir", "run", "--no-such-option")
    #expect(unknown.status == 2, "\(unknown.stderr)")
    #expect(unknown.stderr.contains("--no-such-option"))
    let missing = try await instill("stats")
    #expect(missing.status == 2, "\(missing.stderr)")
    #expect(missing.stderr.contains("Missing expected argument"))
    #expect(try await instill("--version").status == 0)
    #expect(try await instill("run", "--help").status == 0)
  }

  @Test func badInputsExit2AndNameFileLineAndField() async throws {
    let dir = TempDir()
    // A truncated gzip seed file.
    let seeds = dir.file("seeds.jsonl.gz")
    let writer = try RecordWriter(path: seeds)
    for i in 0..<20_000 {
      try writer.write(Record(["instruction": .string("task number \(i) with words"), "output": .string("x")]))
    }
    try writer.finish()
    let bytes = try FileSystem.read(seeds)
    dir.write("cut.jsonl.gz", bytes: Array(bytes.prefix(bytes.count * 2 / 3)))
    dir.write(
      "bad-utf8.jsonl",
      bytes: Array("{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"".utf8) + [0xC0, 0xAF]
        + Array("\"}\n".utf8))
    func pipe(_ seedFile: String, extra: String = "") -> String {
      dir.write(
        "p-\(seedFile).yaml",
        """
        name: bad
        stages:
          - kind: read
            path: \(seedFile)
        \(extra)
          - kind: export
        """)
    }
    let cases: [(String, String)] = [
      (pipe("cut.jsonl.gz"), "cut.jsonl.gz"),
      (pipe("bad-utf8.jsonl"), "bad-utf8.jsonl:2"),
      (pipe("missing.jsonl"), "p-missing.jsonl.yaml:4"),
      (pipe("seeds.jsonl.gz", extra: "    shuffle_everything: true"), "shuffle_everything"),
    ]
    for (file, mention) in cases {
      let run = dir.file("run-\(UUID().uuidString)")
      let result = try await instill("run", file, "--run-dir", run)
      #expect(result.status == 2, "\(file): \(result.stderr)")
      #expect(result.stderr.contains(mention), "\(file): \(result.stderr)")
      #expect(!FileSystem.exists(run + "/data"))
      #expect(try await instill("validate", file).status == 2)
    }
    let ok = pipe("seeds.jsonl.gz")
    let validated = try await instill("validate", ok)
    #expect(validated.status == 0, "\(validated.stderr)")
  }

  @Test func everyStageAddsUpAndStatsAreReadable() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 5000)
    let run = dir.file("run")
    #expect(try await instill("run", p, "--run-dir", run).status == 0)
    let stats = try await statsJSON(run)
    #expect(stats["complete"] == .bool(true))
    let stages = stats["stages"]?.arrayValue ?? []
    #expect(stages.count == 3)
    for stage in stages {
      let s = stage.objectValue!
      let counts = s["stats"]!.objectValue!
      let input = counts["records_in"]!.intValue!, output = counts["records_out"]!.intValue!
      var dropped = (counts["dropped"]?.objectValue ?? [:]).reduce(0) { $0 + ($1.value.intValue ?? 0) }
      for filter in counts["filters"]?.arrayValue ?? [] {
        let f = filter.objectValue!
        let fd = (f["dropped"]?.objectValue ?? [:]).reduce(0) { $0 + ($1.value.intValue ?? 0) }
        #expect(f["seen"]!.intValue! == f["kept"]!.intValue! + fd)
        dropped += fd
      }
      #expect(input == output + dropped, "\(s["name"]!)")
      #expect(s["counts_add_up"] == .bool(true))
    }
    let clean = stages[1].objectValue!["stats"]!.objectValue!
    #expect(clean["records_in"]!.intValue == 5000)
    #expect((clean["filters"]?.arrayValue?.count ?? 0) == 2)
    // The table names every filter and its reasons.
    let table = try await instill("stats", run)
    #expect(table.stdout.contains("filter length-instruction"))
    #expect(table.stdout.contains("keyword:image"))
    #expect(table.stdout.contains("too_short"))
    // stats.json on disk is the same document.
    let onDisk = try JSONParser.parse(String(decoding: FileSystem.read(run + "/stats.json"), as: UTF8.self))
    #expect(onDisk.objectValue?["stages"] == stats["stages"])
  }

  @Test func jobArrayTasksShareARunDirectoryAndMatchASingleRun() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 20_000, perShard: 1000)
    let single = dir.file("single")
    #expect(try await instill("run", p, "--run-dir", single).status == 0)
    let shared = dir.file("shared")
    let tasks = (0..<2).map { index -> Process in
      let process = Process()
      process.executableURL = URL(fileURLWithPath: Binary.path)
      process.arguments = ["run", p, "--run-dir", shared, "--shard-index", "\(index)", "--shard-count", "2", "--quiet"]
      return process
    }
    for t in tasks { try t.run() }
    for t in tasks { await waitForExit(t) }
    #expect(tasks.allSatisfy { $0.terminationStatus == 0 })
    // Whatever the tasks left (the global export), a final plain run finishes.
    #expect(try await instill("run", p, "--run-dir", shared).status == 0)
    #expect(treeDigest(shared + "/data") == treeDigest(single + "/data"))
  }

  /// The quick pipeline with a second map stage after `clean`.
  func twoMapStages(_ dir: TempDir, count: Int, perShard: Int) -> String {
    let text = String(
      decoding: try! FileSystem.read(TestPipelines.qa(dir, count: count, perShard: perShard)), as: UTF8.self)
    let extra = """
        - name: short
          kind: filter
          filters: [{type: length, field: output, max: 400, unit: chars}]
        - kind: export
      """
    let replaced = text.replacingOccurrences(of: "  - kind: export", with: extra)
    precondition(replaced != text)
    return dir.write("two-maps.yaml", replaced)
  }

  @Test func jobArrayTaskCarriesItsShardsThroughEveryMapStage() async throws {
    let dir = TempDir()
    let p = twoMapStages(dir, count: 6000, perShard: 1000)
    let run = dir.file("run")
    // Task 1 of 2 alone: its shards 1, 3, 5 go through `clean` and on through
    // `short` (their inputs are its own), then it stops before the global export.
    let task = try await instill("run", p, "--run-dir", run, "--shard-index", "1", "--shard-count", "2")
    #expect(task.status == 0, "\(task.stderr)")
    #expect(task.stderr.contains("this task's share is done"))
    #expect(RunDirectory(run).finishedShards("02-clean") == [1, 3, 5])
    #expect(RunDirectory(run).finishedShards("03-short") == [1, 3, 5])
    #expect(!FileSystem.exists(run + "/data"))
    // What is left, as Slurm --array lists for 2 and for 4 tasks.
    #expect(try await instill("status", run, "--pending-tasks", "2").stdout == "0\n")
    #expect(try await instill("status", run, "--pending-tasks", "4").stdout == "0,2\n")
    #expect(try await instill("status", run, "--pending-tasks", "2", "--stage", "short").stdout == "0\n")
    let unknown = try await instill("status", run, "--pending-tasks", "2", "--stage", "nope")
    #expect(unknown.status == 2 && unknown.stderr.contains("no stage named 'nope'"))
    // The other task, limited to the two map stages, leaves nothing pending and no export.
    let other = try await instill(
      "run", p, "--run-dir", run, "--shard-index", "0", "--shard-count", "2",
      "--stage", "clean", "--stage", "short")
    #expect(other.status == 0, "\(other.stderr)")
    #expect(try await instill("status", run, "--pending-tasks", "2").stdout == "\n")
    #expect(!FileSystem.exists(run + "/data"))
    #expect(try await instill("run", p, "--run-dir", run, "--stage", "export").status == 0)
    let single = dir.file("single")
    #expect(try await instill("run", p, "--run-dir", single).status == 0)
    #expect(treeDigest(run + "/data") == treeDigest(single + "/data"))
  }

  @Test func taskWithAnotherShardCountIsRefusedWhileTheArrayRuns() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 4000, perShard: 1000)
    let run = dir.file("run")
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    // This process plays task 0 of a 4-task array that is still running.
    let running = RunLock(directory: run)
    try running.acquire(shardIndex: 0, shardCount: 4)
    defer { running.release() }
    let wrong = try await instill("run", p, "--run-dir", run, "--shard-index", "1", "--shard-count", "2")
    #expect(wrong.status == 2)
    #expect(wrong.stderr.contains("--shard-count 4"), "\(wrong.stderr)")
    let same = try await instill("run", p, "--run-dir", run, "--shard-index", "0", "--shard-count", "4")
    #expect(same.status == 4, "task 0 is held by this process")
    let sibling = try await instill("run", p, "--run-dir", run, "--shard-index", "1", "--shard-count", "4")
    #expect(sibling.status == 0, "\(sibling.stderr)")
    #expect(RunDirectory(run).finishedShards("02-clean") == [1])
    let status = try await instill("status", run)
    #expect(status.stdout.contains("lock: held by 1 job-array task of 4 (--shard-index 0)"), "\(status.stdout)")
    running.release()
    #expect(try await instill("status", run).stdout.contains("lock: free"))
  }

  @Test func wallTimeAddedByManyTasksAtOnceIsNotLost() async throws {
    let dir = TempDir()
    let directory = RunDirectory(dir.path)
    try FileManager.default.createDirectory(
      atPath: directory.stageDirectory("02-map"), withIntermediateDirectories: true)
    // 200 tasks ending their share of a map stage at the same moment.
    DispatchQueue.concurrentPerform(iterations: 200) { _ in directory.addWallTime(0.5, folder: "02-map") }
    let stats = StageStats.decode(try FileSystem.read(directory.stageStatsPath("02-map")))
    #expect(stats?.wallSeconds == 100)
  }

  @Test func cachedStageTotalsFollowNewAndRewrittenFiles() throws {
    let dir = TempDir()
    let directory = RunDirectory(dir.path)
    let folder = "02-map"
    try FileManager.default.createDirectory(atPath: directory.stageDirectory(folder), withIntermediateDirectories: true)
    func finishShard(_ shard: Int, records: Int) throws {
      var stats = StageStats()
      stats.recordsIn = records
      stats.recordsOut = records
      try FileSystem.writeAtomically(stats.encoded(), to: directory.shardStatsPath(folder, shard))
      try FileSystem.writeAtomically([0x1f, 0x8b], to: directory.shardPath(folder, shard))
    }
    for shard in 0..<50 { try finishShard(shard, records: 10) }
    #expect(directory.diskStats(folder, cached: true).recordsIn == 500)
    #expect(directory.diskStats(folder, cached: true).recordsIn == 500)
    // A new shard, a shard's stats without its shard file (not counted yet), a stage file rewritten.
    try finishShard(50, records: 7)
    var pending = StageStats()
    pending.recordsIn = 1000
    try FileSystem.writeAtomically(pending.encoded(), to: directory.shardStatsPath(folder, 51))
    #expect(directory.diskStats(folder, cached: true).recordsIn == 507)
    directory.addWallTime(2.5, folder: folder)
    #expect(directory.diskStats(folder, cached: true).wallSeconds == 2.5)
    #expect(directory.diskStats(folder, cached: true) == directory.diskStats(folder))
  }

  /// `--base-url URL --model NAME` points a pipeline of the embedded model at
  /// any OpenAI-compatible endpoint without editing it. The address is in no
  /// fingerprint (moving the server resumes the run); the model is in every
  /// journal key (another model's replies are never reused).
  @Test func anyPipelineRunsAgainstAnEndpointGivenOnTheCommandLine() async throws {
    let dir = TempDir()
    let p = TestPipelines.generate(dir, llm: "  provider: local", count: 3)
    let noModel = try await instill("run", p, "--run-dir", dir.file("run"), "--base-url", "http://127.0.0.1:9/v1")
    #expect(noModel.status == 2)
    #expect(noModel.stderr.contains("--model"), "\(noModel.stderr)")
    let modelOnly = try await instill("run", p, "--run-dir", dir.file("run"), "--model", "m")
    #expect(modelOnly.status == 2 && modelOnly.stderr.contains("--base-url"), "\(modelOnly.stderr)")

    let models = RequestLog()
    let keys = RequestLog()
    let server = try TestHTTPServer { _, _, body in
      models.add((try? JSONParser.parse(body))?.objectValue?["model"]?.stringValue ?? "")
      keys.add(SHA256.hex(body))
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    defer { server.stop() }
    let run = dir.file("run")
    let first = try await instill(
      "run", p, "--run-dir", run, "--base-url", server.baseURL, "--model", "served-model",
      "--max-requests", "1")
    #expect(first.status == 3, "\(first.stderr)")
    #expect(models.all == ["served-model"])
    // The same run, resumed through another address of the same server: no refusal, nothing sent twice.
    let other = server.baseURL.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/"
    try await instill(expect: 0, "run", p, "--run-dir", run, "--base-url", other, "--model", "served-model")
    #expect(models.all == ["served-model", "served-model", "served-model"])
    #expect(Set(keys.all).count == 3)
    // A reply journaled for one model does not answer for another.
    let run2 = dir.file("run2")
    try await instill(
      expect: 3, "run", p, "--run-dir", run2, "--base-url", server.baseURL, "--model", "a", "--max-requests", "1")
    try await instill(expect: 0, "run", p, "--run-dir", run2, "--base-url", server.baseURL, "--model", "b")
    #expect(Array(models.all.suffix(4)) == ["a", "b", "b", "b"])
    let listed = try await instill("validate", "--stages", p)
    #expect(listed.stdout == "read\tread\tglobal\t-\ngenerate\tgenerate\tmap\tllm\nexport\texport\tglobal\t-\n")
  }

  @Test func changedPipelineIsRefusedUnlessForced() async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 2000)
    let run = dir.file("run")
    #expect(try await instill("run", p, "--run-dir", run).status == 0)
    let seedsShard = try FileSystem.read(shardFile(run, "01-seeds"))
    let text = String(decoding: try FileSystem.read(p), as: UTF8.self)
    dir.write("pipeline.yaml", text.replacingOccurrences(of: "max: 12", with: "max: 8"))
    let refused = try await instill("run", p, "--run-dir", run)
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("clean, export"))
    #expect(refused.stderr.contains("--force-config"))
    let forced = try await instill("run", p, "--run-dir", run, "--force-config")
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(forced.stderr.contains("recomputing clean, export"))
    // The unchanged first stage was kept as it was.
    #expect(try FileSystem.read(shardFile(run, "01-seeds")) == seedsShard)
    let fresh = dir.file("fresh")
    #expect(try await instill("run", p, "--run-dir", fresh).status == 0)
    #expect(treeDigest(run + "/data") == treeDigest(fresh + "/data"))
  }

  @Test(arguments: ["messages", "alpaca", "sharegpt"])
  func exportFormatsHaveTheirShape(format: String) async throws {
    let dir = TempDir()
    let p = TestPipelines.qa(dir, count: 300, exportFormat: format, validation: 0)
    let run = dir.file("run")
    #expect(try await instill("run", p, "--run-dir", run).status == 0)
    let records = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    #expect(!records.isEmpty)
    #expect(!FileSystem.exists(run + "/data/validation-00000-of-00001.jsonl.gz"))
    let first = records[0]
    switch format {
    case "messages":
      let messages = first["messages"]?.arrayValue ?? []
      #expect(messages.map { $0.objectValue?["role"]?.stringValue } == ["user", "assistant"])
    case "alpaca":
      #expect(first.fields.keys == ["id", "instruction", "input", "output"])
    default:
      let turns = first["conversations"]?.arrayValue ?? []
      #expect(turns.map { $0.objectValue?["from"]?.stringValue } == ["human", "gpt"])
    }
  }
}

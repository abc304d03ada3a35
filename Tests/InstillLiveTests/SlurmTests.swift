import Foundation
import InstillCore
import InstillRunner
import InstillTestSupport
import Testing

/// The Slurm recipe (Pipelines/slurm/) on a real single-node Slurm, which
/// Scripts/test starts with Scripts/slurm-up, and the real llama-server served by
/// the recipe's own serve job.
@Suite(.serialized)
struct SlurmTests {
  static let tasks = 4

  /// 16 abstracts in 4 shards; two LLM map stages (reverse instructions, then
  /// self-curation); dedup and export at the end. Provider openai with an address
  /// nobody listens on: the jobs get the served model's address with --base-url.
  static func pipeline(_ dir: TempDir) throws -> String {
    let abstracts = try String(contentsOfFile: repositoryPath("Seeds/documents/arxiv-abstracts.jsonl"), encoding: .utf8)
    dir.write("abstracts.jsonl", abstracts.split(separator: "\n").prefix(16).joined(separator: "\n") + "\n")
    return dir.write(
      "slurm.yaml",
      """
      name: slurm-acceptance
      seed: 7
      llm:
        provider: openai
        base_url: http://127.0.0.1:9/v1
        model: smollm2
        max_concurrency: 1          # one request at a time per task: a cancelled task stops mid-shard
        max_retries: 1
        retry_base_delay: 0.1
      stages:
        - name: documents
          kind: documents
          sources: [abstracts.jsonl]
          min_chars: 200
          records_per_shard: 4
        - name: reverse
          kind: reverse_instruct
          mode: longform
          sampling: {max_tokens: 48}
        - name: curate
          kind: self_curate
          min_score: 1
          sampling: {max_tokens: 24}
        - name: dedup
          kind: dedup
          fields: [instruction]
        - kind: export
          format: messages
          shuffle: false
      """)
  }

  static func slurm(_ tool: String, _ arguments: String...) async throws -> CommandResult {
    try await runProgram("/usr/bin/env", [tool] + arguments)
  }

  /// Job ids Slurm still lists (pending or running), with their state and reason.
  static func queue() async throws -> [String: (state: String, reason: String)] {
    let out = try await slurm("squeue", "-h", "-r", "-o", "%i|%T|%r").stdout
    var jobs: [String: (state: String, reason: String)] = [:]
    for line in out.split(separator: "\n") {
      let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
      if parts.count == 3 { jobs[parts[0]] = (parts[1], parts[2]) }
    }
    return jobs
  }

  static func waitUntil(_ what: String, timeout: Double = 300, _ condition: () async throws -> Bool) async throws {
    let start = Date()
    while try await !condition() {
      if Date().timeIntervalSince(start) > timeout {
        Issue.record(
          "timed out after \(Int(timeout)) s waiting for \(what); queue: \(try await slurm("squeue").stdout)")
        throw CancellationError()
      }
      try await Task.sleep(for: .milliseconds(200))
    }
  }

  /// Replies journaled in one journal file.
  static func journaled(_ file: String) -> Int {
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return 0 }
    return text.split(separator: "\n").filter { $0.contains("\"key\"") }.count
  }

  /// `group N JOB stages...` lines of RUN/slurm/jobs.
  static func groupJobs(_ run: String) throws -> [String] {
    try String(contentsOfFile: run + "/slurm/jobs", encoding: .utf8).split(separator: "\n")
      .filter { $0.hasPrefix("group ") }.map { String($0.split(separator: " ")[2]) }
  }

  @Test func jobArrayWithCancelledTaskResubmittedMatchesASingleRun() async throws {
    let info = try await Self.slurm("sinfo", "-h", "-o", "%T")
    try #require(
      info.status == 0 && !info.stdout.isEmpty,
      "no Slurm here: Scripts/test starts one with Scripts/slurm-up (\(info.stderr))")
    let environment = ProcessInfo.processInfo.environment
    try #require(
      environment["INSTILL_LLAMA_SERVER"] != nil && environment["INSTILL_LOCAL_MODEL"] != nil,
      "the serve job needs INSTILL_LLAMA_SERVER and INSTILL_LOCAL_MODEL (Scripts/test exports them)")
    let dir = TempDir()
    let p = try Self.pipeline(dir)
    let run = dir.file("run")
    let submit = repositoryPath("Pipelines/slurm/submit")
    // Two server replicas (a serve job array): tasks 0 and 2 use one, 1 and 3 the other.
    let env = ["INSTILL": Binary.path, "INSTILL_SERVERS": "2"]
    let submitted = try await runProgram(submit, [p, run, "\(Self.tasks)", "--time=00:20:00"], environment: env)
    try #require(submitted.status == 0, "\(submitted.stderr)")
    let jobs = try Self.groupJobs(run)
    try #require(jobs.count == 3, "documents, reverse+curate (array), dedup+export: \(submitted.stderr)")
    let (array, tail) = (jobs[1], jobs[2])
    let serve =
      try String(contentsOfFile: run + "/slurm/jobs", encoding: .utf8)
      .split(separator: "\n").first { $0.hasPrefix("serve ") }.map { String($0.dropFirst(6)) } ?? ""
    #expect(!serve.isEmpty)
    defer { _ = try? runProgramBlocking("/usr/bin/env", ["scancel", serve, array, tail]) }

    // Cancel task 2 as soon as it has journaled a reply, mid-shard.
    try await Self.waitUntil("task 2's first journaled reply") {
      Self.journaled(journalFile(run, "02-reverse", shard: 2)) >= 1
    }
    #expect(try await Self.slurm("scancel", "\(array)_2").status == 0)

    // The other tasks finish; the dependent job can then never start by itself.
    try await Self.waitUntil("tasks 0, 1, 3 to finish and task 2 to end") {
      let queue = try await Self.queue()
      return !queue.keys.contains { $0.hasPrefix(array + "_") }
    }
    try await Self.waitUntil("the dependent job to be marked as never starting", timeout: 60) {
      try await Self.queue()[tail]?.reason == "DependencyNeverSatisfied"
    }
    #expect(try await Self.queue()[tail]?.state == "PENDING")
    let cancelledLog = try String(contentsOfFile: run + "/slurm/02-reverse-\(array)_2.log", encoding: .utf8)
    #expect(cancelledLog.contains("SIGTERM received") || cancelledLog.contains("CANCELLED"), "\(cancelledLog)")
    #expect(!FileSystem.exists(shardFile(run, "02-reverse", 2)), "task 2 was stopped mid-shard")
    // Each task stops by itself 300 s before its 20-minute limit.
    let budget = cancelledLog.firstMatch(of: /--max-time (\d+)/).flatMap { Int($0.1) }
    #expect(budget.map { (840...900).contains($0) } == true, "\(cancelledLog)")
    #expect(cancelledLog.contains("--shard-index 2 --shard-count 4"))
    func address(_ task: Int) throws -> String? {
      try String(contentsOfFile: run + "/slurm/02-reverse-\(array)_\(task).log", encoding: .utf8)
        .firstMatch(of: /--base-url (\S+)/).map { String($0.1) }
    }
    #expect(try address(0) != nil && address(0) != address(1), "both replicas serve")
    #expect(try address(0) == address(2) && address(2) != nil)
    let pending = try await instill("status", run, "--pending-tasks", "\(Self.tasks)")
    #expect(pending.stdout == "2\n", "\(pending.stdout) \(pending.stderr)")
    let journaledBefore = [
      "02-reverse": Self.journaled(journalFile(run, "02-reverse", shard: 2)),
      "03-curate": Self.journaled(journalFile(run, "03-curate", shard: 2)),
    ]
    #expect(journaledBefore["02-reverse"]! >= 1)
    let unfinished = journaledBefore.keys.filter { !FileSystem.exists(shardFile(run, $0, 2)) }

    // Resubmit: only task 2 and the groups after it.
    let again = try await runProgram(submit, ["--resubmit", run, "--time=00:20:00"], environment: env)
    try #require(again.status == 0, "\(again.stderr)")
    #expect(again.stderr.contains("tasks 2 of 4"), "\(again.stderr)")
    try await Self.waitUntil("the resubmitted task, the dedup+export job and the server to end") {
      try await Self.queue().isEmpty
    }
    let status = try await instill("status", run)
    #expect(status.stdout.contains("state: complete"), "\(status.stdout)")
    #expect(FileSystem.exists(run + "/data/dataset.json"))

    // Nothing journaled was asked again: the resumed task answered exactly what
    // was journaled from the journal, and every request appears once.
    for (stage, before) in journaledBefore where unfinished.contains(stage) {
      let shard = try JSONParser.parse(
        String(decoding: try FileSystem.read(RunDirectory(run).shardStatsPath(stage, 2)), as: UTF8.self))
      let llm = shard.objectValue?["llm"]?.objectValue
      #expect(llm?["answered_from_journal"]?.intValue == before, "\(stage): \(String(describing: llm))")
    }
    for stage in journaledBefore.keys {
      let journal = run + "/stages/\(stage)/journal"
      #expect(journalKeys(journal).count == journalLineCount(journal), "\(stage): a request journaled twice")
    }
    let stats = try await statsJSON(run)
    for stage in stats["stages"]?.arrayValue ?? [] {
      #expect(stage.objectValue?["counts_add_up"] == .bool(true), "\(stage)")
    }

    // One process, the same pipeline, the journaled replies, no server at all:
    // the same dataset, byte for byte, and no request sent.
    let replay = dir.file("replay")
    try copyJournals(from: run, to: replay)
    let single = try await instill("run", p, "--run-dir", replay)
    #expect(single.status == 0, "\(single.stderr)")
    #expect(treeDigest(replay + "/data") == treeDigest(run + "/data"))
    let replayStats = try await statsJSON(replay)
    let sent = (replayStats["stages"]?.arrayValue ?? []).compactMap {
      $0.objectValue?["stats"]?.objectValue?["llm"]?.objectValue?["requests_sent"]?.intValue
    }.reduce(0, +)
    #expect(sent == 0)
  }

  /// Without LLM stages no server is submitted; a first job that fails (here: the
  /// run directory is locked, exit 4) holds back everything after it until
  /// `--resubmit` starts again from that job.
  @Test func failedFirstJobIsResubmittedWithWhatFollows() async throws {
    let info = try await Self.slurm("sinfo", "-h", "-o", "%T")
    try #require(
      info.status == 0 && !info.stdout.isEmpty, "no Slurm here: Scripts/test starts one with Scripts/slurm-up")
    let dir = TempDir()
    // The run-command tests' pipeline: read 4,000 records in 8 shards → filter → export.
    let p = TestPipelines.qa(dir, count: 4000)
    let run = dir.file("run")
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    let holder = RunLock(directory: run)
    try holder.acquire(shardIndex: nil)
    let submit = repositoryPath("Pipelines/slurm/submit")
    let env = ["INSTILL": Binary.path]
    let submitted = try await runProgram(submit, [p, run, "3", "--time=00:05:00"], environment: env)
    try #require(submitted.status == 0, "\(submitted.stderr)")
    #expect(!submitted.stderr.contains("model server"), "no LLM stage, no serve job")
    let jobs = try Self.groupJobs(run)
    try #require(jobs.count == 3)
    defer { _ = try? runProgramBlocking("/usr/bin/env", ["scancel"] + jobs) }
    try await Self.waitUntil("the array to be held back by the failed first job", timeout: 120) {
      let queue = try await Self.queue()
      return queue.contains { $0.key.hasPrefix(jobs[1]) && $0.value.reason == "DependencyNeverSatisfied" }
    }
    let firstLog = try String(contentsOfFile: run + "/slurm/01-seeds-\(jobs[0]).log", encoding: .utf8)
    #expect(firstLog.contains("instill exited 4"), "\(firstLog)")
    holder.release()

    let again = try await runProgram(submit, ["--resubmit", run, "--time=00:05:00"], environment: env)
    try #require(again.status == 0, "\(again.stderr)")
    #expect(again.stderr.contains("stages seeds: job"), "\(again.stderr)")
    #expect(again.stderr.contains("tasks 0-2 of 3"), "\(again.stderr)")
    try await Self.waitUntil("the resubmitted jobs to end", timeout: 120) { try await Self.queue().isEmpty }
    let single = dir.file("single")
    #expect(try await instill("run", p, "--run-dir", single).status == 0)
    #expect(!treeDigest(run + "/data").isEmpty)
    #expect(treeDigest(run + "/data") == treeDigest(single + "/data"))
    let done = try await runProgram(submit, ["--resubmit", run], environment: env)
    #expect(done.stderr.contains("nothing to resubmit"), "\(done.stderr)")
  }
}

import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Batch mode against a scripted endpoint that speaks the files and batches API.
struct BatchTests {
  func pipeline(_ dir: TempDir, _ endpoint: BatchEndpoint, batch: String) -> String {
    var lines = ""
    for i in 0..<30 { lines += "{\"instruction\": \"Question \(i)?\"}\n" }
    dir.write("q.jsonl", lines)
    return dir.write(
      "batch.yaml",
      """
      name: batched
      seed: 6
      prices:
        fake-model: {input: 1.0, output: 2.0, batch_input: 0.5, batch_output: 1.0, currency: USD, as_of: 2026-11-30}
      llm:
        provider: openai
        base_url: \(endpoint.baseURL)
        model: fake-model
        max_concurrency: 4
        max_retries: 2
        retry_base_delay: 0.01
        batch: \(batch)
      stages:
        - kind: read
          path: q.jsonl
          records_per_shard: 10
        - kind: generate
          prompt: "{instruction}"
          sampling: {temperature: 0.7, max_tokens: 64}
        - kind: export
          format: alpaca
      """)
  }

  static let fast = "{poll_interval: 0.05, flush_after: 0.1}"

  /// The dataset of an online run on the same endpoint (the reference every batched run must equal).
  func onlineDigest(_ dir: TempDir, _ endpoint: BatchEndpoint) async throws -> [String: String] {
    let file = pipeline(dir, endpoint, batch: "false")
    let run = dir.file("online")
    try await instill(expect: 0, "run", file, "--run-dir", run, "--quiet")
    return treeDigest(run + "/data")
  }

  @Test func aBatchedRunGivesTheOnlineRunsDatasetByteForByte() async throws {
    let endpoint = try BatchEndpoint()
    defer { endpoint.stop() }
    let dir = TempDir()
    let reference = try await onlineDigest(dir, endpoint)
    #expect(endpoint.snapshot.online.count == 30)
    let file = pipeline(dir, endpoint, batch: Self.fast)
    let run = dir.file("run")
    try await instill(expect: 0, "run", file, "--run-dir", run, "--quiet")
    let state = endpoint.snapshot
    #expect(state.online.count == 30, "a batched run sent requests online")
    #expect(state.uploads.count == 3 && state.uploads.allSatisfy { $0.count == 10 }, "one batch per shard")
    #expect(treeDigest(run + "/data") == reference)
    let stats = try await stageStats(run, "generate")
    #expect(stats["llm"]?.objectValue?["requests_sent"]?.intValue == 30)
    let status = try await instill(expect: 0, "status", run).stdout
    #expect(!status.contains("batches in flight"))
    // The same replies through the batch API, at its prices: half the online cost here.
    let online = try await statsJSON(dir.file("online"))["cost"]?.objectValue?["total"]?.doubleValue ?? 0
    let batched = try await statsJSON(run)["cost"]?.objectValue ?? [:]
    #expect(online > 0 && abs((batched["total"]?.doubleValue ?? 0) - online / 2) < 1e-12)
    let text = try await instill(expect: 0, "stats", run).stdout
    #expect(text.contains("fake-model (batch): "), "\(text)")
  }

  @Test func aRunStoppedOrKilledWhileABatchIsInFlightPollsThatBatchAndNeverUploadsARequestTwice() async throws {
    let endpoint = try BatchEndpoint()
    defer { endpoint.stop() }
    let dir = TempDir()
    let reference = try await onlineDigest(dir, endpoint)
    endpoint.update { $0.hold = true }
    let file = pipeline(dir, endpoint, batch: Self.fast)
    let run = dir.file("run")
    // --max-time ends a run waiting on batches with exit 3; cron polls across invocations.
    let stopped = try await instill(expect: 3, "run", file, "--run-dir", run, "--max-time", "1.5")
    #expect(stopped.stderr.contains("while batch batch-"), "\(stopped.stderr)")
    let inFlight = endpoint.snapshot.batchOrder
    #expect(!inFlight.isEmpty)
    let status = try await instill(expect: 0, "status", run).stdout
    #expect(status.contains("batches in flight: \(inFlight.count)"), "\(status)")
    #expect(status.contains("batch-1: 02-generate shard-0000"), "\(status)")

    // Killed while polling: the next run polls the recorded batches again.
    let pollsBefore = endpoint.snapshot.polls[inFlight[0]] ?? 0
    let process = try launchInstill(["run", file, "--run-dir", run, "--quiet"])
    let deadline = ContinuousClock.now + .seconds(30)
    while (endpoint.snapshot.polls[inFlight[0]] ?? 0) < pollsBefore + 2, ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect((endpoint.snapshot.polls[inFlight[0]] ?? 0) >= pollsBefore + 2, "the resumed run did not poll batch 1")
    kill(process.processIdentifier, SIGKILL)
    await waitForExit(process)

    endpoint.update { $0.hold = false }
    try await instill(expect: 0, "run", file, "--run-dir", run, "--quiet")
    let state = endpoint.snapshot
    let uploaded = state.uploads.flatMap { $0 }
    #expect(uploaded.count == 30 && Set(uploaded).count == 30, "a request was uploaded twice: \(state.uploads)")
    #expect(state.online.count == 30)
    #expect(treeDigest(run + "/data") == reference)
  }

  @Test func anExpiredBatchResubmitsOnlyWhatItLeftAndFailedLinesAreRetriedOnline() async throws {
    let endpoint = try BatchEndpoint()
    defer { endpoint.stop() }
    let dir = TempDir()
    let reference = try await onlineDigest(dir, endpoint)
    endpoint.update {
      $0.expireFirstAfter = 4
      $0.failInBatch = "Question 27?"
    }
    let file = pipeline(dir, endpoint, batch: Self.fast)
    let run = dir.file("run")
    try await instill(expect: 0, "run", file, "--run-dir", run, "--quiet")
    let state = endpoint.snapshot
    let expired = try #require(state.batches[state.batchOrder[0]])
    #expect(expired.status == "expired")
    let first = state.uploadIDs[expired.input] ?? []
    #expect(first.count == 10)
    // The expired batch answered its first 4: only the other 6 went into a new batch.
    let resubmitted = state.uploads.filter { $0 != first && !Set($0).isDisjoint(with: first) }
    #expect(resubmitted.count == 1 && Set(resubmitted[0]) == Set(first.dropFirst(4)), "\(state.uploads)")
    // The request that failed inside its batch was sent again online.
    #expect(state.online.suffix(1) == ["Question 27?"], "\(state.online.suffix(3))")
    #expect(treeDigest(run + "/data") == reference)
  }
}

/// `provider: command`: a local command answers the batch files (as vLLM's offline batch runner would).
struct CommandBatchTests {
  /// A batch runner in Python: answers every line, logs each call; the call that claims `slow` sleeps.
  static let runner = """
    import json, os, sys, time
    src, dst, here = sys.argv[1], sys.argv[2], os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "calls.log"), "a") as log:
        log.write(src + "\\n")
    try:  # claimed by removing it, so only one of two calls started together sleeps
        os.remove(os.path.join(here, "slow"))
        time.sleep(60)
    except FileNotFoundError:
        pass
    with open(src) as f, open(dst, "w") as out:
        for i, line in enumerate(f):
            req = json.loads(line)
            prompt = req["body"]["messages"][-1]["content"]
            body = {"choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Local answer to: " + prompt}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 7}}
            out.write(json.dumps({"id": "line-%d" % i, "custom_id": req["custom_id"],
                                  "response": {"status_code": 200, "body": body}, "error": None}) + "\\n")
    """

  @Test func aLocalCommandAnswersTheBatchesAndAStoppedRunRunsItAgainOnTheSameInput() async throws {
    let dir = TempDir()
    dir.write("runner.py", Self.runner)
    dir.write("slow", "")
    var lines = ""
    for i in 0..<12 { lines += "{\"instruction\": \"Question \(i)?\"}\n" }
    dir.write("q.jsonl", lines)
    let file = dir.write(
      "local.yaml",
      """
      name: local-batches
      llm:
        provider: command
        model: my-model
        batch: {command: "python3 \(dir.file("runner.py")) {input} {output}", poll_interval: 0.05, flush_after: 0.1}
      stages:
        - kind: read
          path: q.jsonl
          records_per_shard: 6
        - kind: generate
          prompt: "{instruction}"
          sampling: {temperature: 0, max_tokens: 32}
        - kind: export
          format: alpaca
      """)
    let run = dir.file("run")
    // The first call hangs: --max-time stops the run (exit 3) and the command with it.
    let stopped = try await instill(expect: 3, "run", file, "--run-dir", run, "--max-time", "2")
    #expect(stopped.stderr.contains("while batch local-"), "\(stopped.stderr)")
    try await instill(expect: 0, "run", file, "--run-dir", run, "--quiet")
    let calls = try String(contentsOfFile: dir.file("calls.log"), encoding: .utf8).split(separator: "\n").map(
      String.init)
    #expect(Set(calls).count == 2, "one input file per shard: \(calls)")
    #expect(calls.count == 3, "the stopped batch runs again on the same input file: \(calls)")
    let records = try stageRecords(run, "02-generate", shards: 0..<2)
    #expect(records.count == 12)
    #expect(records.allSatisfy { $0.output == "Local answer to: \($0.instruction)" })
    let stats = try await stageStats(run, "generate")
    #expect(
      stats["llm"]?.objectValue?["by_model"]?.objectValue?["my-model (batch)"]?.objectValue?["requests"] == .int(12))
  }
}

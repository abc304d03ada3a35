import AsyncHTTPClient
import Foundation
import InstillCore
import InstillEndpoints
import InstillFilters
import InstillLLM
import InstillTestSupport
import Logging
import NIOCore
import Testing

/// Integration tests against the real llama.cpp server and SmolLM2-135M
/// (installed by Scripts/install-local-model, which Scripts/test runs).
@Suite(.serialized)
struct LocalModelTests {

  /// A recording proxy in front of a llama-server started by the test.
  final class Proxy: Sendable {
    let server: TestHTTPServer
    let log = RequestLog()
    let upstream: LocalServer

    init() async throws {
      upstream = try await LocalServer.start(
        parallel: 4, threads: 2, contextPerSlot: 1024,
        logPath: NSTemporaryDirectory() + "/instill-test-llama-\(getpid()).log",
        logger: Logger(label: "test"))
      let (log, base) = (self.log, "http://127.0.0.1:\(upstream.port)")
      server = try TestHTTPServer { method, uri, body in
        if uri.hasSuffix("/completions") { log.add(SHA256.hex(body)) }
        var request = HTTPClientRequest(url: base + uri)
        request.method = .RAW(value: method)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
          let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
          let bytes = try await response.body.collect(upTo: 16 << 20)
          return .respond(status: Int(response.status.code), headers: [], body: [UInt8](buffer: bytes))
        } catch {
          return .reset
        }
      }
    }

    func stop() {
      server.stop()
      upstream.stop()
    }
  }

  @Test func generateOverFiftyRecordsThenKillNineAndResumeSendsNoJournaledRequestAgain() async throws {
    let proxy = try await Proxy()
    defer { proxy.stop() }
    let dir = TempDir()
    let llm = """
        provider: openai
        base_url: \(proxy.server.baseURL)
        max_concurrency: 4
        timeout: 120
      """
    let p = TestPipelines.generate(dir, llm: llm)

    // Uninterrupted.
    let reference = dir.file("reference")
    let full = try await instill("run", p, "--run-dir", reference)
    #expect(full.status == 0, "\(full.stderr)")
    #expect(proxy.log.count == 50)
    let stats = try await statsJSON(reference)
    let generate = stats["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue
    #expect(generate?["records_in"]?.intValue == 50)
    #expect((generate?["llm"]?.objectValue?["completion_tokens"]?.intValue ?? 0) > 0)

    // Killed mid-run, then resumed.
    let before = proxy.log.count
    let run = dir.file("run")
    let process = try launchInstill(["run", p, "--run-dir", run, "--quiet"])
    while proxy.log.count - before < 25 { try await Task.sleep(for: .milliseconds(20)) }
    kill(process.processIdentifier, SIGKILL)
    await waitForExit(process)
    let killedAt = proxy.log.count
    let journaled = journalKeys(run + "/stages/02-generate/journal")
    #expect(journaled.count >= 15)
    let resumed = try await instill("run", p, "--run-dir", run)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let sentAfter = Array(proxy.log.all.dropFirst(killedAt))
    #expect(sentAfter.count == 50 - journaled.count, "only requests missing from the journal may be sent again")
    let resumedStats = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue?["llm"]?
      .objectValue
    // Finished shards keep their counts; the interrupted one is answered from its journal.
    let sent = resumedStats?["requests_sent"]?.intValue ?? 0,
      answered = resumedStats?["answered_from_journal"]?.intValue ?? 0
    #expect(sent + answered == 50)
    #expect(answered > 0)

    // Same records as the uninterrupted run. Replies served from the journal are
    // the killed run's own; greedy replies sent after the kill usually match the
    // reference too, but llama-server with several slots is not bitwise
    // reproducible across batch compositions, so only those may differ.
    let a = try RecordReader.readAll(path: reference + "/data/train-00000-of-00001.jsonl.gz")
    let b = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    #expect(a.count == b.count)
    #expect(a.map(\.instruction) == b.map(\.instruction))
    let differing = zip(a, b).filter { $0.output != $1.output }.count
    #expect(
      differing <= sentAfter.count, "\(differing) replies differ, more than the \(sentAfter.count) sent after the kill")
  }

  @Test func providerLocalStartsAndStopsTheEmbeddedServer() async throws {
    let dir = TempDir()
    let p = TestPipelines.generate(dir, llm: "  provider: local\n  max_concurrency: 2", count: 6)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("started llama-server"))
    #expect(result.stderr.contains("stopped llama-server"))
    let pid = result.stderr.firstMatch(of: /started llama-server \(pid (\d+)/).flatMap { Int32($0.1) }
    let serverPid = try #require(pid)
    try await Task.sleep(for: .milliseconds(200))
    #expect(kill(serverPid, 0) != 0, "llama-server still runs after instill exited")
    #expect(try RecordReader.count(path: run + "/data/train-00000-of-00001.jsonl.gz") > 0)
    // Re-running a complete run needs no server.
    let again = try await instill("run", p, "--run-dir", run)
    #expect(again.status == 0)
    #expect(!again.stderr.contains("started llama-server"))
  }

  /// `llm.local.reproducible`: two fresh runs in new run directories give
  /// byte-identical datasets, with sampled bootstrap prompts and a sampled
  /// `generate` whose requests carry no seed of their own.
  @Test func reproducibleModeGivesTheSameDatasetOnAFreshRerun() async throws {
    let dir = TempDir()
    let p = dir.write(
      "repro.yaml",
      """
      name: repro
      seed: 7
      llm:
        provider: local
        local: {threads: 2, reproducible: true}
      stages:
        - kind: read
          path: \(repositoryPath("Seeds/self-instruct/seed_tasks.jsonl"))
          format: self_instruct
        - kind: self_instruct
          target: 6
          prompts_per_round: 2
          sampling: {max_tokens: 128}
        - kind: generate
          prompt: "{instruction}"
          sampling: {temperature: 0.9, max_tokens: 40}
        - kind: export
          format: alpaca
      """)
    let first = try await instill(expect: 0, "run", p, "--run-dir", dir.file("a"))
    #expect(first.stderr.contains("--parallel 1"), "\(first.stderr)")
    try await instill(expect: 0, "run", p, "--run-dir", dir.file("b"))
    let a = treeDigest(dir.file("a") + "/data"), b = treeDigest(dir.file("b") + "/data")
    #expect(!a.isEmpty)
    #expect(a == b)
    #expect(try RecordReader.count(path: dir.file("a") + "/data/train-00000-of-00001.jsonl.gz") > 0)
  }

  @Test func theEmbeddedServerDiesWithAKilledInstill() async throws {
    let dir = TempDir()
    let p = TestPipelines.generate(dir, llm: "  provider: local\n  max_concurrency: 2", count: 40)
    let err = Pipe()
    let process = try launchInstill(["run", p, "--run-dir", dir.file("run")], stderr: err)
    var log = ""
    var pid: Int32?
    let deadline = Date().addingTimeInterval(120)
    while pid == nil && Date() < deadline {
      let handle = UncheckedBox(err.fileHandleForReading)
      log += String(decoding: try await offPool { handle.value.availableData }, as: UTF8.self)
      pid = log.firstMatch(of: /started llama-server \(pid (\d+)/).flatMap { Int32($0.1) }
    }
    let serverPid = try #require(pid)
    kill(process.processIdentifier, SIGKILL)
    await waitForExit(process)
    var gone = false
    for _ in 0..<50 where !gone {
      try await Task.sleep(for: .milliseconds(100))
      // A zombie is reaped by init once its parent is gone.
      gone =
        kill(serverPid, 0) != 0
        || (try? String(contentsOfFile: "/proc/\(serverPid)/stat", encoding: .utf8))?.contains(") Z") == true
    }
    #expect(gone, "llama-server outlived a killed instill")
  }

  /// Self-Instruct on the real model: bootstrap (target 30) → classify →
  /// instances → filter → dedup → export, killed with SIGKILL mid-bootstrap and
  /// resumed. Journaled requests are not sent again; the dataset loads with
  /// `datasets`; every filter's counts add up; the same responses give a
  /// byte-identical dataset.
  @Test func selfInstructEndToEndResumedAfterKillNine() async throws {
    let dir = TempDir()
    let p = dir.write(
      "si.yaml",
      TestPipelines.onOurSeeds(name: "si-test") + """
          - kind: self_instruct
            target: 30
            prompts_per_round: 4
            sampling: {max_tokens: 200, seed: 7}
          - kind: classify
          - kind: instances
            sampling: {max_tokens: 200}
          - kind: filter
            filters:
              - {type: non_empty, fields: [instruction, output]}
              - {type: length, field: output, unit: words, max: 300}
          - kind: dedup
            fields: [input, output]
          - kind: export
            format: messages
            shuffle: true
        """)
    // Kill during the bootstrap, once a few replies are journaled.
    let resumed = try await assertResumesAfterKill(p, in: dir, stage: "02-self_instruct", killAfter: 3, replay: true)
    let run = resumed.run
    let stats = try await statsJSON(run)
    let stages = (stats["stages"]?.arrayValue ?? []).compactMap { $0.objectValue?["stats"]?.objectValue }
    let bootstrap = stages[1]
    #expect(bootstrap["records_out"]?.intValue == 30)
    let filterNames = { (stage: JSONObject) in
      stage["filters"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue } ?? []
    }
    #expect(filterNames(bootstrap) == ["word_count", "keywords", "write_a_program", "first_character", "rouge_l"])
    #expect(stages[2]["records_out"]?.intValue == 30)
    let instances = stages[3]
    #expect(filterNames(instances) == ["truncated", "invalid", "conflicting_outputs", "duplicate", "max_instances"])
    #expect(instances["counters"]?.objectValue?["tasks"]?.intValue == 30)
    #expect((instances["records_out"]?.intValue ?? 0) > 0, "no instance survived: \(instances)")
    #expect(filterNames(stages[5]) == ["exact", "rouge_l"])

    // The dataset loads with datasets, with every exported record.
    let exported = stages[6]["records_out"]?.intValue ?? -1
    #expect(exported > 0)
    let script = """
      import json, sys
      from datasets import load_dataset
      ds = load_dataset(sys.argv[1])
      print(json.dumps({"train": len(ds["train"]), "roles": [m["role"] for m in ds["train"][0]["messages"]]}))
      """
    let python = try await runProgram(
      "/usr/bin/env", ["python3", "-c", script, run + "/data"],
      environment: [
        "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": dir.file("hf"),
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
      ])
    #expect(python.status == 0, "\(python.stderr.suffix(2000))")
    let loaded = try JSONParser.parse(python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).objectValue
    #expect(loaded?["train"]?.intValue == exported)
    #expect(loaded?["roles"] == .array([.string("user"), .string("assistant")]))
  }

}

extension LocalModelTests {
  /// Every pipeline we ship, shrunk (targets 2 from 2 prompts a round, one
  /// evolution round, 4 seeds or documents, replies of at most 400 tokens), runs to the end on the real model, and on every stage the
  /// records in equal the records kept plus every drop.
  @Test func everyShippedPipelineRunsWithCountsThatAddUp() async throws {
    let dir = TempDir()
    let seeds = repositoryPath("Seeds") + "/"
    for file in FileSystem.list(repositoryPath("Pipelines")) where file.hasSuffix(".yaml") {
      var lines: [String] = []
      var kind = ""
      for line in try String(contentsOfFile: repositoryPath("Pipelines/" + file), encoding: .utf8)
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      {
        var line = line.replacingOccurrences(of: "../Seeds/", with: seeds)
        if let match = line.firstMatch(of: /kind: ([a-z_]+)/) { kind = String(match.output.1) }
        if let match = line.firstMatch(of: /^(\s+)target: \d+/) { line = "\(match.output.1)target: 2" }
        if let match = line.firstMatch(of: /^(\s+)rounds: \d+/) { line = "\(match.output.1)rounds: 1" }
        if let match = line.firstMatch(of: /^(\s+)prompts_per_round: \d+/) {
          line = "\(match.output.1)prompts_per_round: 2"
        }
        if let match = line.firstMatch(of: /max_tokens: (\d+)/), let n = Int(match.output.1), n > 400 {
          line = line.replacingOccurrences(of: "max_tokens: \(n)", with: "max_tokens: 400")
        }
        lines.append(line)
        // Four documents, or four seeds for the Evol-Instruct and reasoning pipelines (Alpaca JSON and JSONL read stages).
        if let match = line.firstMatch(of: /^(\s+)(kind: documents|format: alpaca|format: jsonl)$/),
          kind == "documents" || kind == "read"
        {
          lines.append("\(match.output.1)limit: 4")
        }
      }
      let pipeline = dir.write(file, lines.joined(separator: "\n"))
      let run = dir.file("run-" + file)
      let started = ContinuousClock.now
      try await instill(expect: 0, "run", pipeline, "--run-dir", run, "--quiet")
      let stats = try await statsJSON(run)
      #expect(stats["complete"] == .bool(true), "\(file)")
      for stage in stats["stages"]?.arrayValue ?? [] {
        #expect(stage.objectValue?["counts_add_up"] == .bool(true), "\(file): \(stage)")
      }
      print("shipped pipeline \(file): \(ContinuousClock.now - started)")
    }
  }
}

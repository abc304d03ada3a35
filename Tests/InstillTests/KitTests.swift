import Foundation
import InstillCore
import InstillKit
import InstillLLM
import InstillRunner
import InstillStages
import InstillTestSupport
import Logging
import Synchronization
import Testing

/// The method kit on its own: a two-request stage written only as hooks, run by
/// the real runner against an in-process backend whose replies arrive out of order.
@Suite(.serialized)
struct KitTests {
  /// Replies "R(<last user message>)" after a delay that depends on the prompt,
  /// so replies arrive in another order than they were asked.
  final class EchoBackend: LLMBackend {
    let defaultModel = "echo"
    let defaultSampling = Sampling()
    let maxConcurrency = 3
    let sent = Mutex(0)

    func send(_ request: LLMRequest) async throws -> (Result<LLMResponse, LLMFailure>, LLMAttempts) {
      sent.withLock { $0 += 1 }
      let text = request.messages.last?.content ?? ""
      let delay = Int(SHA256.hex(text).prefix(2), radix: 16) ?? 0
      try await Task.sleep(for: .milliseconds(delay % 25))
      if text.contains("fail me") { return (.failure(LLMFailure(kind: "http_400", message: "refused")), LLMAttempts()) }
      return (
        .success(
          LLMResponse(
            choices: [LLMChoice(text: "R(\(text))", finishReason: "stop")], promptTokens: 3,
            completionTokens: 2)), LLMAttempts()
      )
    }
  }

  /// Rewrite, then judge the rewrite; a record whose judge says nothing useful is dropped.
  struct RewriteAndJudge: RecordLLMStage {
    var llm = StageLLM(sampling: Sampling(temperature: 0))
    var filterNames: [String] { ["judge"] }

    func work(on record: Record, _ call: RecordCall) async throws -> [String] {
      guard case .success(let rewrite) = try await call.send(call.request(.single("rewrite: \(record.instruction)")))
      else { return [] }
      guard case .success(let verdict) = try await call.send(call.request(.single("judge: \(rewrite.text)"))) else {
        return [rewrite.text]
      }
      return [rewrite.text, verdict.text]
    }

    func finish(_ work: [String], _ record: Record, _ sink: RecordSink) throws {
      guard work.count == 2 else { return sink.drop("llm_failed") }
      let keep = !work[1].contains("drop me")
      sink.filter("judge", kept: keep, reason: "judged_useless", example: work[0])
      guard keep else { return }
      var out = record
      out["output"] = .string(work[1])
      try sink.emit(out)
    }
  }

  static func catalog() -> StageCatalog {
    var catalog = StageCatalog()
    catalog.registerBuiltins()
    catalog.register("rewrite_and_judge") { _, _ throws(InstillError) in RewriteAndJudge() }
    return catalog
  }

  static func questions(_ dir: TempDir, count: Int) {
    var text = ""
    for i in 0..<count {
      let extra = i % 7 == 3 ? " drop me" : (i == 11 ? " fail me" : "")
      text += JSONWriter.string(.object(["instruction": .string("question \(i)\(extra)")])) + "\n"
    }
    dir.write("q.jsonl", text)
  }

  @Test func aTwoRequestStageWrittenAsHooksKeepsInputOrderAndCountsAddUp() async throws {
    let dir = TempDir()
    Self.questions(dir, count: 40)
    let file = dir.write(
      "p.yaml",
      """
      name: kit
      stages:
        - kind: read
          path: q.jsonl
          records_per_shard: 13
        - kind: rewrite_and_judge
      """)
    let pipeline = try Pipeline.load(file: file, catalog: Self.catalog())
    let backend = EchoBackend()
    let run = dir.file("run")
    let runner = Runner(
      pipeline: pipeline, directory: run, options: RunOptions(), control: RunControl(),
      logger: Logger(label: "test"), llm: backend)
    #expect(try await runner.run() == .complete)

    var outputs: [String] = []
    for shard in 0..<4 {
      for record in try stageRecords(run, "02-rewrite_and_judge", shards: shard..<shard + 1) {
        outputs.append(record.output)
      }
    }
    let expected = (0..<40).filter { $0 % 7 != 3 && $0 != 11 }.map { "R(judge: R(rewrite: question \($0)))" }
    #expect(outputs == expected)
    // "fail me" fails its first request: the second is never sent.
    #expect(backend.sent.withLock { $0 } == 2 * 40 - 1)
    let stats = try await stageStats(run, "rewrite_and_judge")
    #expect(stats["records_in"]?.intValue == 40)
    #expect(stats["records_out"]?.intValue == expected.count)
    #expect(stats["dropped"]?.objectValue?["llm_failed"]?.intValue == 1)
    #expect(filterDrops(stats)["judge"] == ["judged_useless": 6])
    #expect(stats["llm"]?.objectValue?["requests_sent"]?.intValue == 79)
  }

  @Test func aBadInputLineThrowsAfterTheWorkInFlightIsJournaled() async throws {
    let dir = TempDir()
    var text = ""
    for i in 0..<10 { text += JSONWriter.string(.object(["instruction": .string("q\(i)")])) + "\n" }
    let input = dir.write("in.jsonl", text + "{\"instruction\": \"cut\n")
    let backend = EchoBackend()
    let context = StageContext(
      stageName: "t", stageIndex: 1, seed: 1, shard: 0, stats: StatsRecorder(),
      control: RunControl(), logger: Logger(label: "test"), llm: backend,
      journalPath: dir.file("journal/shard-00000.jsonl"), dataset: nil)
    let reader = try RecordReader(path: input)
    let writer = try RecordWriter(path: dir.file("out.jsonl.gz"))
    defer { writer.abandon() }
    do {
      try await RewriteAndJudge().process(reader, into: writer, context: context)
      Issue.record("a corrupt input line was not reported")
    } catch let error as InstillError {
      #expect(error.kind == .invalidInput)
      #expect(error.line == 11, "\(error)")
    }
    // Every request that was sent has its response in the journal.
    let journal = try Journal(path: dir.file("journal/shard-00000.jsonl"))
    #expect(journal.count == backend.sent.withLock { $0 })
    #expect(journal.count > 0)
  }

  @Test func validateExplainsWhereEachSettingComesFrom() async throws {
    let dir = TempDir()
    dir.write("seeds.jsonl", "{\"instruction\":\"Say hi.\"}\n")
    let p = dir.write(
      "p.yaml",
      """
      name: explain
      llm:
        provider: openai
        base_url: http://127.0.0.1:9/v1
        model: big-model
        sampling: {temperature: 1, top_p: 0.8}
      stages:
        - kind: read
          path: seeds.jsonl
        - kind: classify
        - kind: generate
          prompt: "{instruction}"
          model: other-model
          sampling: {max_tokens: 77}
      """)
    let result = try await instill(expect: 0, "validate", p, "--explain")
    let text = result.stdout
    #expect(text.contains("stage read (read): no LLM"), "\(text)")
    let classify =
      text.components(separatedBy: "stage classify (classify)").last?.components(separatedBy: "stage generate").first
      ?? ""
    // Greedy classification stays greedy under a pipeline-wide temperature.
    #expect(classify.contains(#/temperature\s+0\s+\(method\)/#), "\(classify)")
    #expect(classify.contains(#/top_p\s+0\.8\s+\(llm\.sampling\)/#), "\(classify)")
    #expect(classify.contains(#/model\s+big-model\s+\(llm\.model\)/#), "\(classify)")
    let generate = text.components(separatedBy: "stage generate (generate)").last ?? ""
    #expect(generate.contains(#/temperature\s+1\s+\(llm\.sampling\)/#), "\(generate)")
    #expect(generate.contains(#/max_tokens\s+77\s+\(stage sampling\)/#), "\(generate)")
    #expect(generate.contains(#/model\s+other-model\s+\(stage\)/#), "\(generate)")
    // A sampled request gets a seed from the pipeline seed, the record and the request's purpose.
    #expect(
      generate.contains(
        #/seed\s+drawn per record and request from the pipeline seed \(sampled requests\)\s+\(method, per request\)/#),
      "\(generate)")
  }

  @Test func anUnknownFilterTypeIsAnInputErrorListingTheKnownOnes() async throws {
    let dir = TempDir()
    dir.write("seeds.jsonl", "{\"instruction\":\"Say hi.\",\"output\":\"Hi\"}\n")
    let p = dir.write(
      "p.yaml",
      """
      name: filters
      stages:
        - kind: read
          path: seeds.jsonl
        - kind: filter
          filters:
            - {type: length, min: 1}
            - {type: lenght, min: 1}
      """)
    let result = try await instill(expect: 2, "validate", p)
    #expect(result.stderr.contains("p.yaml:8"), "\(result.stderr)")
    #expect(result.stderr.contains("unknown filter type 'lenght'"), "\(result.stderr)")
    #expect(result.stderr.contains("keywords, length, non_empty"), "\(result.stderr)")
  }
}

import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Prices and `--max-cost` on the embedded model, through the recording proxy.
extension LocalModelTests {
  /// Prices for the served model: cost per stage and per kept example in
  /// `stats --json`, the report and the metrics, with the cached prompt tokens
  /// llama-server reports; `--max-cost` stops with exit 3 within one request of
  /// the budget, and a larger budget finishes without sending a journaled request again.
  @Test func pricesGiveCostPerKeptExampleAndMaxCostStopsWithinOneRequest() async throws {
    let proxy = try await Proxy()
    defer { proxy.stop() }
    let dir = TempDir()
    TestPipelines.questions(dir, count: 12)
    let p = dir.write(
      "priced.yaml",
      """
      name: priced-live
      seed: 4
      prices:
        SmolLM2-135M-Instruct: {input: 1.0, cached_input: 0.25, output: 4.0, currency: EUR, as_of: 2026-11-30}
      llm: {provider: openai, base_url: \(proxy.server.baseURL), model: SmolLM2-135M-Instruct, max_concurrency: 4}
      stages:
        - kind: read
          path: questions.jsonl
          records_per_shard: 6
        - kind: generate
          prompt: "{instruction}"
          sampling: {temperature: 0, max_tokens: 32}
        - kind: export
          format: alpaca
          shuffle: false
      """)
    let run = dir.file("run")
    let budget = 0.0008
    let stopped = try await instill(expect: 3, "run", p, "--run-dir", run, "--max-cost", "\(budget)")
    #expect(stopped.stderr.contains("--max-cost 0.0008 EUR reached"), "\(stopped.stderr)")
    let sentBeforeStop = proxy.log.count
    #expect(sentBeforeStop > 0 && sentBeforeStop < 12)
    let partial = try await statsJSON(run)
    let spent = partial["cost"]?.objectValue?["total"]?.doubleValue ?? -1
    let usage = servedModelUsage(partial, "generate")
    let requests = usage["requests"]?.intValue ?? 0
    #expect(requests == sentBeforeStop)
    // One request's worst case: its prompt (the largest seen, with margin) and all 32 tokens generated.
    let prompt = Double(usage["prompt_tokens"]?.intValue ?? 0) / Double(max(1, requests))
    let oneRequest = (prompt * 1.5 * 1.0 + 32 * 4.0) / 1_000_000
    #expect(spent <= budget && budget - spent < oneRequest, "spent \(spent) of \(budget); one request \(oneRequest)")

    let metrics = dir.file("metrics.prom")
    try await instill(expect: 0, "run", p, "--run-dir", run, "--max-cost", "1", "--metrics-file", metrics)
    #expect(proxy.log.count == 12)
    #expect(Set(proxy.log.all).count == 12, "a journaled request was sent again")
    let stats = try await statsJSON(run)
    let cost = stats["cost"]?.objectValue ?? [:]
    let total = cost["total"]?.doubleValue ?? 0
    #expect(total > spent)
    #expect(cost["currency"] == .string("EUR") && cost["exported_records"] == .int(12))
    #expect(abs((cost["per_kept_example"]?.doubleValue ?? 0) - total / 12) < 1e-12)
    let stage = stats["stages"]?.arrayValue?.first { $0.objectValue?["name"] == .string("generate") }?.objectValue
    #expect(abs((stage?["cost"]?.objectValue?["amount"]?.doubleValue ?? 0) - total) < 1e-12)
    // llama-server reports the prompt tokens it served from its cache; they are priced as cached input.
    #expect((servedModelUsage(stats, "generate")["cached_prompt_tokens"]?.intValue ?? 0) > 0)
    let prom = try String(contentsOfFile: metrics, encoding: .utf8)
    #expect(prom.contains("instill_run_cost_per_kept_example{pipeline=\"priced-live\",currency=\"EUR\"}"))
    try await instill(expect: 0, "report", run)
    let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
    #expect(html.contains("EUR per exported example (12 exported)"))
  }
}

/// The usage of the served model in one stage's cost (`stats --json`).
func servedModelUsage(_ stats: JSONObject, _ name: String) -> JSONObject {
  let stage = stats["stages"]?.arrayValue?.first { $0.objectValue?["name"] == .string(name) }?.objectValue
  return stage?["cost"]?.objectValue?["models"]?.objectValue?["SmolLM2-135M-Instruct"]?.objectValue?["usage"]?
    .objectValue ?? [:]
}

extension LocalModelTests {
  /// A two-tier cascade: the embedded model first, a scripted strong endpoint
  /// second. Run without the cascade first, then with it (`--force-config`,
  /// the embedded model's replies come from the journal): the strong tier is
  /// asked exactly the questions the first run dropped, and nothing else.
  @Test func aCascadeEscalatesExactlyTheRepliesTheStageRejects() async throws {
    let asked = RequestLog()
    let strong = try TestHTTPServer { _, _, body in
      let text = FakeModel.promptText(body)?.text ?? ""
      asked.add(text)
      return FakeModel.respond("A short, complete answer.", chat: true)
    }
    defer { strong.stop() }
    let dir = TempDir()
    TestPipelines.questions(dir, count: 12)
    func pipeline(cascade: String) -> String {
      dir.write(
        "cascade.yaml",
        """
        name: cascade-live
        seed: 4
        prices:
          SmolLM2-135M-Instruct: {input: 0.1, output: 0.2, currency: USD, as_of: 2026-11-30}
          strong-model: {input: 2.0, output: 8.0, currency: USD, as_of: 2026-11-30}
        llm: {provider: local, max_concurrency: 4}
        endpoints:
          strong: {provider: openai, base_url: \(strong.baseURL), model: strong-model}
        stages:
          - kind: read
            path: questions.jsonl
            records_per_shard: 6
          - kind: generate
            prompt: "{instruction}"
            sampling: {temperature: 0, max_tokens: 28}
            drop_truncated: true
        \(cascade)
        """)
    }
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline(cascade: ""), "--run-dir", run, "--quiet")
    let kept = Set(try stageRecords(run, "02-generate", shards: 0..<2).map(\.instruction))
    let all = Set(
      try String(contentsOfFile: dir.file("questions.jsonl"), encoding: .utf8).split(separator: "\n").compactMap {
        try JSONParser.parse(Array($0.utf8)).objectValue?["instruction"]?.stringValue
      })
    let rejected = all.subtracting(kept)
    #expect(!kept.isEmpty && !rejected.isEmpty, "the cheap tier kept \(kept.count) of 12")
    #expect(asked.count == 0)

    try await instill(
      expect: 0, "run", pipeline(cascade: "    cascade: [llm, strong]"), "--run-dir", run, "--force-config", "--quiet")
    #expect(
      Set(asked.all) == rejected, "the strong tier was asked \(asked.count), the cheap one rejected \(rejected.count)")
    #expect(asked.count == rejected.count)
    let records = try stageRecords(run, "02-generate", shards: 0..<2)
    #expect(records.count == 12)
    #expect(Set(records.filter { $0.meta["answered_by"] == .string("strong") }.map(\.instruction)) == rejected)
    #expect(Set(records.filter { $0.meta["answered_by"] == .string("llm") }.map(\.instruction)) == kept)
    let stats = try await stageStats(run, "generate")
    let cheap = stats["cascade"]?.objectValue?["llm"]?.objectValue
    #expect(cheap?["escalated"]?.intValue == rejected.count && cheap?["answered"]?.intValue == kept.count)
    #expect(cheap?["model"] == .string("SmolLM2-135M-Instruct"))
    let llm = stats["llm"]?.objectValue
    #expect(llm?["answered_from_journal"]?.intValue == 12 && llm?["requests_sent"]?.intValue == rejected.count)
  }
}

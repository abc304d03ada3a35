import Foundation
import InstillCore
import InstillTestSupport
import Synchronization
import Testing

/// Prices, cost in the statistics, and `--max-cost`, against a scripted
/// endpoint whose usage figures are known (a real server's are checked in the live tests).
struct CostTests {
  /// A chat endpoint that reports `prompt` tokens (`cached` of them cached) and
  /// `completion` tokens per reply, and records every request body it answers.
  final class PricedEndpoint: Sendable {
    final class Log: Sendable {
      let bodies = Mutex<[String]>([])
    }
    let server: TestHTTPServer
    private let log = Log()

    init(prompt: Int, cached: Int?, completion: Int) throws {
      let log = self.log
      server = try TestHTTPServer { _, _, body in
        let text = String(decoding: body, as: UTF8.self)
        log.bodies.withLock { $0.append(text) }
        var usage: JSONObject = ["prompt_tokens": .int(prompt), "completion_tokens": .int(completion)]
        if let cached { usage["prompt_tokens_details"] = .object(["cached_tokens": .int(cached)]) }
        let reply: JSONObject = [
          "choices": .array([
            .object([
              "index": .int(0), "finish_reason": .string("stop"),
              "message": .object([
                "role": .string("assistant"), "content": .string("Answer to " + String(SHA256.hex(text).prefix(10))),
              ]),
            ])
          ]),
          "usage": .object(usage),
        ]
        return .respond(status: 200, headers: [], body: JSONWriter.bytes(.object(reply)))
      }
    }

    var requests: [String] { log.bodies.withLock { $0 } }
    var baseURL: String { server.baseURL }
    func stop() { server.stop() }
  }

  static let prices = """
    prices:
      fake-model: {input: 1.0, cached_input: 0.5, output: 4.0, currency: USD, as_of: 2026-11-01}
    """

  func pipeline(
    _ dir: TempDir, _ endpoint: PricedEndpoint, records: Int, prices: String = Self.prices, extra: String = ""
  )
    -> String
  {
    var lines = ""
    for i in 0..<records { lines += "{\"instruction\": \"Question \(i)?\"}\n" }
    dir.write("q.jsonl", lines)
    return dir.write(
      "p.yaml",
      """
      name: priced
      seed: 2
      \(prices)
      llm: {provider: openai, base_url: \(endpoint.baseURL), model: fake-model, max_concurrency: 4}
      stages:
        - kind: read
          path: q.jsonl
          records_per_shard: 10
        - kind: generate
          prompt: "{instruction}"
          sampling: {temperature: 0, max_tokens: 250}
      \(extra)
        - kind: export
          shuffle: false
      """)
  }

  func number(_ value: JSONValue?) -> Double? {
    value?.doubleValue
  }

  @Test func costIsPricedPerStageAndPerExportedExampleWhereTheUserGavePrices() async throws {
    let dir = TempDir()
    // Each reply: 1000 prompt tokens (400 cached) and 200 completion tokens:
    // 600 × 1.0 + 400 × 0.5 + 200 × 4.0 per million = 0.0016 USD.
    let endpoint = try PricedEndpoint(prompt: 1000, cached: 400, completion: 200)
    defer { endpoint.stop() }
    let file = pipeline(
      dir, endpoint, records: 20,
      extra: """
          - name: second
            kind: generate
            model: other-model
            prompt: "Again: {instruction}"
            sampling: {temperature: 0, max_tokens: 250}
        """)
    let run = dir.file("run")
    let metrics = dir.file("metrics.prom")
    try await instill(expect: 0, "run", file, "--run-dir", run, "--metrics-file", metrics, "--quiet")
    let stats = try await statsJSON(run)
    let generate = MetricsTests.stage(stats, "generate")["cost"]?.objectValue ?? [:]
    #expect(abs((number(generate["amount"]) ?? 0) - 0.032) < 1e-9)
    #expect(generate["currency"] == .string("USD"))
    let usage = generate["models"]?.objectValue?["fake-model"]?.objectValue?["usage"]?.objectValue ?? [:]
    #expect(usage["cached_prompt_tokens"] == .int(8000) && usage["prompt_tokens"] == .int(20000))
    #expect(usage["requests"] == .int(20))
    // The other model has no price: its tokens are shown, never priced by a guess.
    let second = MetricsTests.stage(stats, "second")["cost"]?.objectValue ?? [:]
    #expect(second["unpriced_models"] == .array([.string("other-model")]))
    #expect(second["models"]?.objectValue?["other-model"]?.objectValue?["cost"] == JSONValue.null)
    let total = stats["cost"]?.objectValue ?? [:]
    #expect(abs((number(total["total"]) ?? 0) - 0.032) < 1e-9)
    #expect(total["exported_records"] == .int(20))
    #expect(abs((number(total["per_kept_example"]) ?? 0) - 0.0016) < 1e-9)
    #expect(total["prices_as_of"] == .string("2026-11-01"))
    #expect(total["unpriced_models"] == .array([.string("other-model")]))

    let text = try await instill(expect: 0, "stats", run).stdout
    #expect(text.contains("cost: 0.03200 USD (fake-model: 20000 prompt (8000 cached) + 4000 completion tokens)"))
    #expect(text.contains("other-model: 20000 prompt (8000 cached) + 4000 completion tokens, no price"))
    #expect(text.contains("0.001600 USD per exported example (20 exported); prices as of 2026-11-01"))
    #expect(text.contains("not counted, no price: other-model"))

    let prom = try String(contentsOfFile: metrics, encoding: .utf8)
    let tests = MetricsTests()
    #expect(tests.sample(prom, "instill_stage_cost", ["stage": "generate", "currency": "USD"]) == 0.032)
    #expect(tests.sample(prom, "instill_stage_cost", ["stage": "second"]) == nil)
    #expect(tests.sample(prom, "instill_run_cost_per_kept_example", ["currency": "USD"]) == 0.0016)

    try await instill(expect: 0, "report", run)
    let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
    #expect(html.contains("0.001600 USD per exported example"))

    // New prices reprice the statistics; nothing is recomputed or asked again.
    let before = endpoint.requests.count
    let repriced = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(
      of: "output: 4.0", with: "output: 8.0")
    try repriced.write(toFile: file, atomically: true, encoding: .utf8)
    try await instill(expect: 0, "run", file, "--run-dir", run, "--quiet")
    #expect(endpoint.requests.count == before)
    let after = try await statsJSON(run)["cost"]?.objectValue ?? [:]
    #expect(abs((number(after["total"]) ?? 0) - 0.048) < 1e-9)
  }

  @Test func maxCostStopsBeforeTheRequestThatCouldPassItAndALargerBudgetPaysNothingTwice() async throws {
    let dir = TempDir()
    // A reply costs (10 × 1.0 + 200 × 4.0) / 1e6 = 0.00081; the worst case of a
    // request (max_tokens 250, a few prompt tokens) is just over 0.001.
    let endpoint = try PricedEndpoint(prompt: 10, cached: nil, completion: 200)
    defer { endpoint.stop() }
    let file = pipeline(dir, endpoint, records: 20)
    let run = dir.file("run")
    let stopped = try await instill(expect: 3, "run", file, "--run-dir", run, "--max-cost", "0.005")
    #expect(stopped.stderr.contains("--max-cost 0.005 USD reached"))
    #expect(stopped.stderr.contains("larger --max-cost"))
    // 5 × 0.00081 = 0.00405 leaves less than one request's worst case; 6 would pass 0.005.
    #expect(endpoint.requests.count == 5)
    let spent = try await statsJSON(run)["cost"]?.objectValue ?? [:]
    #expect(abs((number(spent["total"]) ?? 0) - 0.00405) < 1e-9)

    // The budget is the run directory's: the same budget again sends nothing.
    try await instill(expect: 3, "run", file, "--run-dir", run, "--max-cost", "0.005")
    #expect(endpoint.requests.count == 5)
    // A larger one finishes, and no request is sent twice.
    try await instill(expect: 0, "run", file, "--run-dir", run, "--max-cost", "1")
    #expect(endpoint.requests.count == 20)
    #expect(Set(endpoint.requests).count == 20)
    let total = try await statsJSON(run)["cost"]?.objectValue ?? [:]
    #expect(abs((number(total["total"]) ?? 0) - 20 * 0.00081) < 1e-9)
  }

  @Test func maxCostNeedsAPriceForEveryModelItAsks() async throws {
    let dir = TempDir()
    let endpoint = try PricedEndpoint(prompt: 10, cached: nil, completion: 20)
    defer { endpoint.stop() }
    let file = pipeline(
      dir, endpoint, records: 4,
      prices: "prices:\n  some-other-model: {input: 1, output: 2, currency: EUR, as_of: 2026-10-01}")
    let unpriced = try await instill(expect: 2, "run", file, "--run-dir", dir.file("run"), "--max-cost", "1")
    #expect(unpriced.stderr.contains("'fake-model' has none"))
    #expect(unpriced.stderr.contains("p.yaml") && unpriced.stderr.contains("prices"))
    #expect(endpoint.requests.isEmpty)
    let noPrices = pipeline(dir, endpoint, records: 4, prices: "")
    let refused = try await instill(expect: 2, "run", noPrices, "--run-dir", dir.file("run2"), "--max-cost", "1")
    #expect(refused.stderr.contains("--max-cost needs prices"))
    // Without prices a run shows tokens and "no price".
    try await instill(expect: 0, "run", noPrices, "--run-dir", dir.file("run3"), "--quiet")
    let text = try await instill(expect: 0, "stats", dir.file("run3")).stdout
    #expect(text.contains("cost: no price (fake-model: 40 prompt + 80 completion tokens, no price)"))
  }

  @Test func badPricesAreInputErrorsNamingFileLineAndField() async throws {
    let dir = TempDir()
    let endpoint = try PricedEndpoint(prompt: 10, cached: nil, completion: 20)
    defer { endpoint.stop() }
    let cases: [(String, String)] = [
      ("prices:\n  fake-model: {input: 1, output: 2, currency: USD}", "missing required key 'as_of'"),
      ("prices:\n  fake-model: {input: 1, output: 2, currency: USD, as_of: last week}", "YYYY-MM-DD"),
      (
        "prices:\n  fake-model: {input: 1, output: 2, currency: USD, as_of: 2026-11-01}\n"
          + "  b: {input: 1, output: 2, currency: EUR, as_of: 2026-11-01}", "one currency"
      ),
      ("prices:\n  fake-model: {input: -1, output: 2, currency: USD, as_of: 2026-11-01}", "must be between"),
      (
        "prices:\n  fake-model: {input: 1, ouput: 2, currency: USD, as_of: 2026-11-01}", "missing required key 'output'"
      ),
      ("prices: nowhere.yaml", "no prices file"),
    ]
    for (prices, message) in cases {
      let file = pipeline(dir, endpoint, records: 2, prices: prices)
      let result = try await instill(expect: 2, "validate", file)
      #expect(result.stderr.contains(message), "\(prices): \(result.stderr)")
      #expect(result.stderr.contains("p.yaml:"), "\(prices): \(result.stderr)")
    }
    // A shared prices file, relative to the pipeline.
    dir.write("prices.yaml", "fake-model: {input: 1, output: 4, currency: usd, as_of: 2026-11-01}\n")
    let shared = pipeline(dir, endpoint, records: 2, prices: "prices: prices.yaml")
    try await instill(expect: 0, "run", shared, "--run-dir", dir.file("run"), "--quiet")
    let total = try await statsJSON(dir.file("run"))["cost"]?.objectValue ?? [:]
    #expect(total["currency"] == .string("USD"))
    #expect(total["prices_source"]?.stringValue?.hasSuffix("prices.yaml") == true)
    #expect(abs((number(total["total"]) ?? 0) - 2 * (10 + 80) / 1e6) < 1e-12)
  }
}

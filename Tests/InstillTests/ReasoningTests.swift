import Foundation
import InstillCore
import InstillFilters
import InstillLLM
import InstillTestSupport
import Synchronization
import Testing

/// Thinking models as teachers: the trace never reaches a stage, a parser or
/// the dataset unless asked for, and then it lands where trainers read it.
struct ReasoningSplitTests {
  func split(_ text: String, field: String? = nil, tags: ReasoningTags? = .think, truncated: Bool = false)
    -> ReasoningSplit
  {
    ReasoningSplit.split(text: text, field: field, tags: tags, truncated: truncated)
  }

  @Test func everyFormServersUseGivesTheSameAnswer() {
    let answer = "Paris is the capital of France."
    #expect(split(answer) == ReasoningSplit(reasoning: nil, answer: answer, unclosed: false))
    #expect(split(answer, field: "The user asks.\n") == ReasoningSplit(reasoning: "The user asks.", answer: answer))
    #expect(split("<think>\nThe user asks.\n</think>\n\n" + answer).answer == answer)
    #expect(split("  \n<think>The user asks.</think>" + answer).reasoning == "The user asks.")
    // Qwen3's and R1's templates open the block in the prompt: only the closing marker comes back.
    #expect(
      split("The user asks.\n</think>\n\n" + answer) == ReasoningSplit(reasoning: "The user asks.", answer: answer))
    // A server field and an inline block at once: both are thinking, the field's first.
    #expect(
      split("<think>More.</think>\n" + answer, field: "First.")
        == ReasoningSplit(reasoning: "First.\n\nMore.", answer: answer))
    // An empty block (Qwen3 with thinking off) is no trace.
    #expect(split("<think>\n\n</think>\n\n" + answer) == ReasoningSplit(reasoning: nil, answer: answer))
    #expect(
      split("[THINK]Plan.[/THINK]" + answer, tags: .magistral) == ReasoningSplit(reasoning: "Plan.", answer: answer))
    let harmony = "<|channel|>analysis<|message|>Plan.<|end|><|start|>assistant<|channel|>final<|message|>" + answer
    #expect(split(harmony, tags: .harmony) == ReasoningSplit(reasoning: "Plan.", answer: answer))
  }

  @Test func markersInsideAnAnswerAreTheAnswers() {
    let answer = "Wrap the scratchpad in <think> and </think> tags, like <think>this</think>."
    #expect(split(answer) == ReasoningSplit(reasoning: nil, answer: answer))
    #expect(split("<think>x</think>y", tags: nil) == ReasoningSplit(reasoning: nil, answer: "<think>x</think>y"))
    // Only the first block is thinking; a later one belongs to the answer.
    #expect(split("<think>a</think>Use <think>b</think>.").answer == "Use <think>b</think>.")
  }

  @Test func thinkingThatNeverClosedIsNoAnswer() {
    #expect(split("<think>\nLet me think about this and").unclosed)
    #expect(split("<think>\nLet me think", truncated: true).unclosed)
    // A trace in its own field, cut at the limit before any answer.
    #expect(split("", field: "Let me think", truncated: true).unclosed)
    #expect(!split("", field: "Let me think", truncated: false).unclosed)
    #expect(!split("Paris", field: "Let me think", truncated: true).unclosed)
    let response = LLMResponse(
      choices: [
        LLMChoice(text: "<think>cut", finishReason: "length"),
        LLMChoice(text: "<think>a</think>B", finishReason: "stop"),
      ], promptTokens: 1, completionTokens: 2)
    let (kept, unclosed) = response.splittingReasoning(tags: .think)
    #expect(unclosed == 1 && kept?.choices.map(\.text) == ["B"] && kept?.choices.first?.reasoning == "a")
    let allCut = LLMResponse(
      choices: [LLMChoice(text: "<think>cut", finishReason: "length")], promptTokens: 1, completionTokens: 2)
    #expect(allCut.splittingReasoning(tags: .think).response == nil)
  }

  /// Journals keep replies as received: lines written before thinking was
  /// known read as they did, and a thinking reply is split on every read.
  @Test func journalsFromBeforeStillReplayAndThinkingIsSplitOnEveryRead() throws {
    let dir = TempDir()
    let old =
      #"{"key":"old","response":{"choices":[{"text":"Paris.","finish_reason":"stop"}],"#
      + #""usage":{"prompt_tokens":3,"completion_tokens":4}},"at":1700000000.5}"#
    let path = dir.write("journal/shard-00000.jsonl", old + "\n")
    let journal = try Journal(path: path)
    let reply = try #require(journal.response(for: "old"))
    #expect(reply.text == "Paris." && reply.reasoning == nil && reply.reasoningTokens == nil)
    #expect(JSONValue.object(reply.json) == (try JSONParser.parse(Array(old.utf8))).objectValue?["response"])
    let thinking = LLMResponse(
      choices: [LLMChoice(text: "<think>Two.</think>\n\nB", finishReason: "stop", reasoning: "One.")],
      promptTokens: 1, completionTokens: 9, reasoningTokens: 5)
    try journal.append(key: "new", response: thinking)
    journal.sync()
    let again = try #require(try Journal(path: path).response(for: "new"))
    #expect(again.text == "<think>Two.</think>\n\nB" && again.reasoning == "One." && again.reasoningTokens == 5)
    let split = try #require(again.splittingReasoning(tags: .think).response)
    #expect(split.text == "B" && split.reasoning == "One.\n\nTwo.")
  }

  @Test func theReasoningFilterJudgesTracesAgainstTheirAnswers() throws {
    func filter(_ yaml: String) throws -> any RecordFilter {
      let node = try ConfigNode.parse(yaml: "- " + yaml, file: "f.yaml", what: "filter list")
      return try FilterCatalog.standard.parse(try node.list())[0]
    }
    func record(_ output: String, _ trace: String?) -> Record {
      var r = Record(["instruction": .string("Name the capital of France."), "output": .string(output)])
      if let trace { r["output_reasoning"] = .string(trace) }
      return r
    }
    let plain = try filter("{type: reasoning}")
    let required = try filter("{type: reasoning, require: true, min_words: 5, max_words: 40}")
    let good = "The question is about France. Its capital and largest city is Paris, on the Seine."
    #expect(plain.check(record("Paris.", good)) == nil)
    #expect(plain.check(record("Paris.", nil)) == nil)
    #expect(required.check(record("Paris.", nil)) == "no_trace")
    #expect(required.check(record("Paris.", "Paris, obviously.")) == "trace_too_short")
    #expect(required.check(record("Paris.", String(repeating: "I wonder more. ", count: 20))) == "trace_too_long")
    #expect(
      plain.check(record("The capital of France is Paris.", "The capital of France is Paris."))
        == "trace_restates_answer")
    // R1-style language mixing: a trace that drifts into another script than its answer's.
    #expect(
      plain.check(record("The capital is Paris.", "The question asks for the capital. 首都是巴黎，所以答案是巴黎。"))
        == "trace_language_mixing")
    #expect(plain.check(record("首都是巴黎。", "问题问的是法国的首都。答案是巴黎。")) == nil)
    #expect(throws: InstillError.self) { try filter("{type: reasoning, min_words: 9, max_words: 3}") }
  }
}

/// A thinking teacher behind each recipe, end to end through `instill run`.
@Suite(.serialized)
struct ReasoningRecipeTests {
  typealias Recipes = RecipeTransparencyTests

  static let dropForms: [ThinkingModel.Form] = [.field, .reasoningField, .inline, .closeOnly, .both, .customTags]

  /// Tells the recipe's `llm` section about the custom markers.
  static func customTags(_ text: String) -> String {
    text.replacingOccurrences(of: "\nllm:\n", with: "\nllm:\n  reasoning_tags: [\"[[plan]]\", \"[[/plan]]\"]\n")
  }

  static func shrink(_ file: String) -> [(String, String)] { Recipes.recipes.first { $0.file == file }!.shrink }

  /// The SHA-256 of every file the export wrote (`DIR/data`).
  static func digest(_ run: String) -> [String: String] { treeDigest(run + "/data") }

  /// Whatever form the teacher thinks in, a recipe that drops thinking makes
  /// the dataset it makes with a teacher that does not think, byte for byte.
  /// The recipes made for any teacher.
  static let anyTeacher = Recipes.recipes.map(\.file).filter { !Recipes.thinking.contains($0) }

  @Test(arguments: anyTeacher)
  func droppedThinkingLeavesTheDatasetByteIdentical(file: String) async throws {
    let dir = TempDir()
    let plain = Self.digest(try await Recipes.run(file, shrink: Self.shrink(file), in: dir, runDir: "plain"))
    #expect(!plain.isEmpty)
    for form in Self.dropForms {
      let run = try await Recipes.run(
        file, shrink: Self.shrink(file), in: dir, think: form, edit: form == .customTags ? Self.customTags : { $0 },
        runDir: "run-\(form)")
      #expect(Self.digest(run) == plain, "\(file): thinking as \(form) changed the dataset")
    }
    // A third of the replies cut while thinking: fewer rows, none of them thinking.
    let cut = try await Recipes.run(file, shrink: Self.shrink(file), in: dir, think: .unclosed, runDir: "run-cut")
    let text = try Recipes.dataset(cut).map { JSONWriter.string(.object($0.fields)) }.joined()
    for leak in ["think>", "keep going", "Let me work this out"] {
      #expect(!text.contains(leak), "\(file): '\(leak)' reached the dataset")
    }
  }

  /// Recipes whose exported assistant turns are a teacher's answer (not a seed's or a document's).
  /// (Self-Instruct's instances are examples a reply listed, not answers: their
  /// trace stays on the task as `instances_reasoning`.)
  static let answering = [
    "evol-instruct.yaml", "evol-code.yaml", "unnatural-instructions.yaml", "critique-revise.yaml", "magpie.yaml",
  ]

  /// The rows without the assistant turns' traces.
  static func withoutTraces(_ records: [Record]) -> [JSONValue] {
    records.map { record in
      var object = record.fields
      if case .array(let messages)? = object["messages"] {
        object["messages"] = .array(
          messages.map { m in
            guard var o = m.objectValue else { return m }
            o["reasoning_content"] = nil
            return .object(o)
          })
      }
      return .object(object)
    }
  }

  /// `--reasoning keep`: the same rows, with the teacher's trace on its answers
  /// as `reasoning_content`, where Qwen3's and DeepSeek's chat templates read it.
  @Test(arguments: anyTeacher)
  func keptThinkingReachesTheAssistantTurns(file: String) async throws {
    let dir = TempDir()
    let plain = try Recipes.dataset(try await Recipes.run(file, shrink: Self.shrink(file), in: dir, runDir: "plain"))
    for form in Self.dropForms {
      let run = try await Recipes.run(
        file, shrink: Self.shrink(file), in: dir, think: form, edit: form == .customTags ? Self.customTags : { $0 },
        arguments: ["--reasoning", "keep"], runDir: "keep-\(form)")
      try Self.checkKept(try Recipes.dataset(run), plain: plain, recipe: file, form: form)
    }
  }

  static func checkKept(_ kept: [Record], plain: [Record], recipe: String, form: ThinkingModel.Form) throws {
    let file = "\(recipe) (\(form))"
    #expect(Self.withoutTraces(kept) == Self.withoutTraces(plain), "\(file): keeping traces changed the answers")
    let assistant = kept.flatMap { r in
      (r["messages"]?.arrayValue ?? []).compactMap(\.objectValue).filter { $0["role"]?.stringValue == "assistant" }
    }
    let traced = assistant.filter { $0["reasoning_content"] != nil }
    #expect(traced.allSatisfy { $0["reasoning_content"]?.stringValue?.hasPrefix("Let me work this out.") == true })
    let text = kept.map { JSONWriter.string(.object($0.fields)) }.joined()
    for marker in ["<think>", "</think>", ThinkingModel.customTags.0, ThinkingModel.customTags.1] {
      #expect(!text.contains(marker), "\(file): \(marker) reached the dataset")
    }
    if Self.answering.contains(recipe) {
      #expect(!traced.isEmpty, "\(file): no trace reached the dataset")
      if !recipe.hasPrefix("evol") {  // Evol's round 0 are the seeds, answered by nobody.
        #expect(traced.count == assistant.count, "\(file): \(traced.count) of \(assistant.count) turns have a trace")
      }
    }
  }

  /// The reasoning recipe: every problem reaches the dataset with its trace on
  /// the assistant turn, and the dataset is the same whichever way the server
  /// hands the thinking back.
  @Test func theReasoningRecipeKeepsEveryTracedAnswerWhateverFormTheTeacherThinksIn() async throws {
    let dir = TempDir()
    let file = "reasoning.yaml"
    let problems = try RecordReader.readAll(path: repositoryPath("Seeds/reasoning/problems.jsonl"))
      .compactMap { $0["problem"]?.stringValue }
    #expect(problems.count >= 20)
    let run = try await Recipes.run(file, shrink: [], in: dir, think: .field, runDir: "field")
    let data = try Recipes.dataset(run)
    #expect(data.count == problems.count, "\(data.count) of \(problems.count) problems reached the dataset")
    var asked: [String] = []
    for row in data {
      let turns = (row["messages"]?.arrayValue ?? []).compactMap(\.objectValue)
      #expect(turns.map { $0["role"]?.stringValue } == ["user", "assistant"], "\(row.fields)")
      asked.append(turns.first?["content"]?.stringValue ?? "")
      let answer = turns.last?["content"]?.stringValue ?? ""
      #expect(turns.last?["reasoning_content"]?.stringValue == ThinkingModel.trace(for: answer), "\(row.fields)")
    }
    #expect(Set(asked) == Set(problems), "the user turns are the problems")
    let card = try String(contentsOfFile: run + "/data/README.md", encoding: .utf8)
    #expect(
      card.contains(
        "Thinking traces: \(problems.count) of \(problems.count) records carry the teacher's reasoning, "
          + "in the assistant turns' `reasoning_content`"), "\(card)")
    let plain = Self.digest(run)
    for form: ThinkingModel.Form in [.reasoningField, .inline, .closeOnly, .customTags] {
      let other = try await Recipes.run(
        file, shrink: [], in: dir, think: form, edit: form == .customTags ? Self.customTags : { $0 },
        runDir: "run-\(form)")
      #expect(Self.digest(other) == plain, "thinking as \(form) changed the dataset")
    }
    // A field and an inline block at once: both are the trace, the answers stay.
    let both = try Recipes.dataset(try await Recipes.run(file, shrink: [], in: dir, think: .both, runDir: "both"))
    #expect(Self.withoutTraces(both) == Self.withoutTraces(data))
    #expect(both.allSatisfy { JSONWriter.string(.object($0.fields)).contains("And once more, inline.") })
    // Replies cut while thinking: counted and dropped, never a row.
    let cutRun = try await Recipes.run(file, shrink: [], in: dir, think: .unclosed, runDir: "cut")
    let cut = try Recipes.dataset(cutRun)
    let truncated = try await stageStats(cutRun, "solve")["counters"]?.objectValue?["reasoning_truncated"]?.intValue
    #expect(!cut.isEmpty && (truncated ?? 0) > 0 && cut.count + (truncated ?? 0) == problems.count)
    #expect(!cut.map { JSONWriter.string(.object($0.fields)) }.joined().contains("keep going"))
    // A teacher that does not think: nothing reaches the dataset, and the statistics say why.
    let none = try await Recipes.run(file, shrink: [], in: dir, runDir: "none")
    #expect(try Recipes.dataset(none).isEmpty)
    #expect(!(try String(contentsOfFile: none + "/data/README.md", encoding: .utf8)).contains("Thinking traces"))
    let traces = try await stageStats(none, "traces")
    let reasoning = traces["filters"]?.arrayValue?.first?.objectValue
    #expect(reasoning?["name"] == .string("reasoning"))
    #expect(reasoning?["dropped"]?.objectValue?["no_trace"]?.intValue == problems.count, "\(traces)")
  }

  /// Replies cut while thinking are their own drop reason and counter, never an answer.
  @Test func repliesCutWhileThinkingNeverBecomeAnswers() async throws {
    let dir = TempDir()
    let run = try await Recipes.run(
      "quickstart.yaml", shrink: Self.shrink("quickstart.yaml"), in: dir, think: .unclosed)
    let data = try Recipes.dataset(run)
    #expect(!data.isEmpty)
    let text = data.map { JSONWriter.string(.object($0.fields)) }.joined()
    #expect(!text.contains("keep going") && !text.contains("think>"))
    let generate = try await stageStats(run, "instances")
    #expect((generate["counters"]?.objectValue?["reasoning_truncated"]?.intValue ?? 0) > 0, "\(generate)")
    #expect((generate["dropped"]?.objectValue?["llm_failed:reasoning_truncated"]?.intValue ?? 0) > 0, "\(generate)")
    let thinking = generate["llm"]?.objectValue?["thinking"]?.objectValue
    #expect(thinking?["unclosed"]?.intValue == generate["counters"]?.objectValue?["reasoning_truncated"]?.intValue)
    let stats = try await instill(expect: 0, "stats", run)
    #expect(stats.stdout.contains("cut while thinking (reasoning_truncated)"), "\(stats.stdout)")
  }

  /// A run that dropped thinking keeps the replies as they came: asking for
  /// the traces afterwards re-reads the journals and pays for nothing.
  @Test func tracesCanBeKeptAfterwardsWithoutAskingAgain() async throws {
    let dir = TempDir()
    let file = "evol-instruct.yaml"
    let requests = RequestCount()
    func runRecipe(_ arguments: [String], expect: Int32 = 0) async throws -> String {
      try await Recipes.run(
        file, shrink: Self.shrink(file), in: dir, think: .closeOnly, arguments: arguments, expect: expect,
        requests: requests)
    }
    let run = try await runRecipe([])
    let dropped = Self.digest(run)
    let sent = requests.value
    #expect(sent > 0)
    // Keeping traces changes what the stages write: a changed pipeline, refused unless forced.
    _ = try await runRecipe(["--reasoning", "keep"], expect: 2)
    _ = try await runRecipe(["--reasoning", "keep", "--force-config"])
    let kept = try Recipes.dataset(run)
    #expect(kept.contains { $0["messages"]?.arrayValue?.last?.objectValue?["reasoning_content"] != nil })
    #expect(requests.value == sent, "keeping the traces sent \(requests.value - sent) requests")
    _ = try await runRecipe(["--force-config"])
    #expect(requests.value == sent)
    #expect(Self.digest(run) == dropped, "dropping the traces again gives the first dataset back")
  }
}

/// The thinking knobs of `sampling`, reasoning tokens and the export forms, against a scripted endpoint.
struct ReasoningEndpointTests {
  @Test func thinkingKnobsReachTheServerAndReasoningTokensAreCounted() async throws {
    let dir = TempDir()
    let bodies = Bodies()
    let server = try TestHTTPServer { _, _, body in
      if let object = try? JSONParser.parse(body).objectValue { bodies.add(object) }
      return ThinkingModel.thinking(FakeModel.respond("Paris is the capital.", chat: true), form: .field)
    }
    defer { server.stop() }
    TestPipelines.questions(dir, count: 4)
    let file = dir.write(
      "think.yaml",
      """
      name: think
      prices:
        qwen3: {input: 1.0, output: 4.0, currency: USD, as_of: 2026-11-01}
      llm: {provider: openai, base_url: "\(server.baseURL)", model: qwen3}
      stages:
        - kind: read
          path: questions.jsonl
        - kind: generate
          prompt: "{instruction}"
          reasoning: keep
          sampling: {temperature: 0.6, max_tokens: 4096, reasoning_effort: high, enable_thinking: true, thinking_budget: 2048}
        - kind: export
          format: alpaca
          reasoning: field
      """)
    let run = dir.file("run")
    let metrics = dir.file("instill.prom")
    try await instill(expect: 0, "run", file, "--run-dir", run, "--metrics-file", metrics)
    let sent = bodies.all
    #expect(sent.count == 4)
    let body = try #require(sent.first)
    #expect(body["reasoning_effort"] == .string("high"))
    #expect(body["chat_template_kwargs"]?.objectValue?["enable_thinking"] == .bool(true))
    #expect(body["thinking_token_budget"] == .int(2048) && body["reasoning_budget_tokens"] == .int(2048))
    let rows = try Recipes.dataset(run)
    #expect(rows.count == 4)
    #expect(rows.allSatisfy { $0.output == "Paris is the capital." })
    #expect(
      rows.allSatisfy { $0["reasoning_content"]?.stringValue == ThinkingModel.trace(for: "Paris is the capital.") })
    let generate = try await stageStats(run, "generate")
    let usage = generate["llm"]?.objectValue?["by_model"]?.objectValue?["qwen3"]?.objectValue
    let perReply = ThinkingModel.trace(for: "Paris is the capital.").count / 4
    #expect(usage?["reasoning_tokens"] == .int(4 * perReply), "\(generate)")
    let stats = try await instill(expect: 0, "stats", run)
    #expect(stats.stdout.contains("thinking: \(4 * perReply) reasoning tokens"), "\(stats.stdout)")
    #expect(stats.stdout.contains("traces in 4 of 4 replies"), "\(stats.stdout)")
    #expect(stats.stdout.contains("completion (\(4 * perReply) reasoning) tokens"), "\(stats.stdout)")
    let prom = try String(contentsOfFile: metrics, encoding: .utf8)
    #expect(prom.contains("type=\"reasoning\"} \(4 * perReply)"), "\(prom)")
  }

  /// With no max_tokens, a request that asks for thinking reserves room for a
  /// long trace under `--max-cost`, not an ordinary answer's worth.
  @Test func maxCostAllowsForThinking() async throws {
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, _ in FakeModel.respond("Paris is the capital.", chat: true) }
    defer { server.stop() }
    TestPipelines.questions(dir, count: 3)
    func pipeline(_ sampling: String) -> String {
      dir.write(
        "cost.yaml",
        """
        name: think-cost
        prices:
          qwen3: {input: 1.0, output: 4.0, currency: USD, as_of: 2026-11-01}
        llm: {provider: openai, base_url: "\(server.baseURL)", model: qwen3}
        stages:
          - kind: read
            path: questions.jsonl
          - kind: generate
            prompt: "{instruction}"
            sampling: {temperature: 0.6\(sampling)}
        """)
    }
    // 32,768 tokens at 4 USD per million: 0.13 USD could go to one request's thinking.
    let stopped = try await instill(
      expect: 3, "run", pipeline(", enable_thinking: true"), "--run-dir", dir.file("thinks"), "--max-cost", "0.1")
    #expect(stopped.stderr.contains("the next request could cost 0.13"), "\(stopped.stderr)")
    try await instill(expect: 0, "run", pipeline(""), "--run-dir", dir.file("plain"), "--max-cost", "0.1")
    try await instill(
      expect: 0, "run", pipeline(", enable_thinking: true, max_tokens: 8000"), "--run-dir", dir.file("capped"),
      "--max-cost", "0.1")
  }

  typealias Recipes = RecipeTransparencyTests

  /// One kept trace, as each export format and `reasoning` setting writes it.
  @Test func exportsPutTracesWhereTrainersReadThem() async throws {
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, _ in
      ThinkingModel.thinking(FakeModel.respond("Paris.", chat: true), form: .inline)
    }
    defer { server.stop() }
    TestPipelines.questions(dir, count: 2)
    let trace = ThinkingModel.trace(for: "Paris.")
    func export(_ settings: String) async throws -> [Record] {
      let name = "e\(abs(settings.hashValue))"
      let file = dir.write(
        name + ".yaml",
        """
        name: export-traces
        llm: {provider: openai, base_url: "\(server.baseURL)", model: m, reasoning: keep}
        stages:
          - kind: read
            path: questions.jsonl
          - kind: generate
            prompt: "{instruction}"
          - kind: export
            \(settings.replacingOccurrences(of: ", ", with: "\n    "))
        """)
      try await instill(expect: 0, "run", file, "--run-dir", dir.file(name))
      return try Recipes.dataset(dir.file(name))
    }
    let messages = try await export("format: messages")
    #expect(
      messages.first?["messages"]?.arrayValue?.last
        == .object([
          "role": .string("assistant"), "content": .string("Paris."), "reasoning_content": .string(trace),
        ]))
    let thinking = try await export("format: messages, reasoning_field: thinking")
    #expect(thinking.first?["messages"]?.arrayValue?.last?.objectValue?["thinking"] == .string(trace))
    let sharegpt = try await export("format: sharegpt")
    #expect(
      sharegpt.first?["conversations"]?.arrayValue?.last?.objectValue?["value"]
        == .string("<think>\n\(trace)\n</think>\n\nParis."))
    let alpaca = try await export("format: alpaca")
    #expect(alpaca.first?.output == "Paris." && alpaca.first?["reasoning_content"] == nil)
    let column = try await export("format: alpaca, reasoning: field")
    #expect(column.first?["reasoning_content"] == .string(trace))
    let omitted = try await export("format: messages, reasoning: omit")
    #expect(
      omitted.first?["messages"]?.arrayValue?.last
        == .object(["role": .string("assistant"), "content": .string("Paris.")]))
  }

  /// Bad thinking settings are the pipeline's errors: exit 2, naming the file, line and field.
  @Test(arguments: [
    ("reasoning: maybe", "reasoning"), ("reasoning_tags: bogus", "reasoning_tags"),
    ("reasoning_tags: [\"<a>\"]", "reasoning_tags"),
  ])
  func badThinkingSettingsAreExit2(line: String, field: String) async throws {
    let dir = TempDir()
    TestPipelines.questions(dir, count: 1)
    let file = dir.write(
      "bad.yaml",
      """
      name: bad
      llm:
        provider: openai
        base_url: http://127.0.0.1:9/v1
        \(line)
      stages:
        - kind: read
          path: questions.jsonl
        - kind: generate
          prompt: "{instruction}"
      """)
    let result = try await instill(expect: 2, "run", file, "--run-dir", dir.file("run"))
    #expect(result.stderr.contains("bad.yaml:5") && result.stderr.contains(field), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir.file("run/data")))
  }
}

/// Request bodies a scripted server received.
final class Bodies: Sendable {
  private let bodies = Mutex<[JSONObject]>([])
  func add(_ body: JSONObject) { bodies.withLock { $0.append(body) } }
  var all: [JSONObject] { bodies.withLock { $0 } }
}

import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: magpie` — seedless instructions from an aligned model: each request
/// is a raw completion of the model's chat template up to where a user's
/// message begins (the pre-query), so the model writes the user's turn itself.
/// The turn must close with the template's end-of-turn (`unterminated`
/// otherwise). Instructions pass length, trailing-colon and language checks,
/// the exact and ROUGE-L pools and the opening cap, until `target` are kept;
/// then each is answered (through chat, or by `answer_endpoint`), and with
/// `turns: N` the conversation goes on by alternating pre-query and answer.
///
/// Input: optional. Records from an earlier stage join the pools (new
/// instructions must differ from them); they are not passed on.
public struct MagpieStage: GrowthStage {
  public enum Template: Sendable, Equatable {
    case builtin(ChatLayout)
    /// Read from the served model at run time.
    case auto
  }

  public var growth = GrowthSettings()
  public var template = Template.auto
  public var layout: ChatLayout?
  /// Rotated per request; nil: the layout's own opening (a template's default system prompt).
  public var systemPrompts: Steering.List?
  public var turns = 1
  public var answer = true
  public var minWords = 3
  public var maxWords = 200
  /// A `script` name (`latin`, `cyrillic`, …) the instruction's letters must mostly be in.
  public var script: String?
  /// Instruction requests: the paper's sampling (temperature 1, top_p 1).
  public var llm = StageLLM(
    sampling: Sampling(temperature: 1, topP: 1, maxTokens: 256), seedDrawnPer: "prompt")
  /// Answers, through chat. Sampled: greedy answers of small models loop until the length limit.
  public var answerLLM = StageLLM(sampling: Sampling(temperature: 0.7, topP: 0.95, maxTokens: 1024))

  public init() {
    growth.maxSameOpening = 0.05
    growth.promptsPerRound = 10
  }

  public var methodName: String { "magpie" }
  public var noun: String { "instructions" }
  public var mostSimilarField: String { "most_similar" }
  public var parseFilterNames: [String] { ["unterminated"] }
  public var dropsDuplicates: Bool { true }
  public func duplicateKey(_ record: Record) -> String { Text.collapsingWhitespace(record.instruction).lowercased() }

  public var candidateFilters: FilterChain {
    var filters: [any RecordFilter] = [
      LengthFilter(name: "length", field: "instruction", unit: .words, min: minWords, max: maxWords),
      AffixFilter(name: "ends_with_colon", side: .end, field: "instruction", values: [":"]),
    ]
    if let script {
      filters.append(ScriptFilter(name: "language", field: "instruction", script: script, minFraction: 0.8))
    }
    return FilterChain(filters)
  }

  /// `language:` codes and the script their letters are written in.
  public static let languageScripts: [String: String] = {
    var map: [String: String] = [:]
    for code in ["en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "ro", "tr", "id", "vi"] {
      map[code] = "latin"
    }
    for code in ["ru", "uk", "bg", "sr"] { map[code] = "cyrillic" }
    map["el"] = "greek"
    map["ar"] = "arabic"
    map["fa"] = "arabic"
    map["he"] = "hebrew"
    map["hi"] = "devanagari"
    map["zh"] = "han"
    map["ja"] = "hiragana_katakana"
    map["ko"] = "hangul"
    map["th"] = "thai"
    return map
  }()

  public static let defaultTopicTemplate = "The user wants help with {topic}."
  public static let defaultPersonaTemplate = "The user is {persona}."

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("magpie") { params, context throws(InstillError) in
      var s = MagpieStage()
      try s.growth.parse(params)
      try s.growth.parseSteering(
        params, context: context, topicTemplate: defaultTopicTemplate, personaTemplate: defaultPersonaTemplate)
      try s.llm.parse(params)
      if s.llm.endpointIsSet, s.llm.endpoint != .completion {
        throw params.node("endpoint")!.error(
          "magpie sends raw completion requests (the pre-query template); endpoint must be completion")
      }
      s.llm.endpoint = .completion
      s.template = try parseTemplate(params)
      if case .builtin(let layout) = s.template {
        s.layout = layout
        s.llm.methodSampling.stop = [layout.endOfTurn]
      } else {
        s.llm.perRequest["stop"] = "the served template's end-of-turn (template: auto)"
      }
      s.systemPrompts = try parseSystemPrompts(params, context: context)
      s.turns = try params.int("turns", default: s.turns, in: 1...16)
      s.answer = try params.bool("answer", default: s.answer)
      if !s.answer, s.turns > 1 {
        throw params.node("answer")!.error("turns: \(s.turns) needs answers between the turns (answer: true)")
      }
      s.minWords = try params.int("min_words", default: s.minWords, in: 0...10_000)
      s.maxWords = try params.int("max_words", default: s.maxWords, in: 1...100_000)
      if let node = params.node("language") {
        let code = try node.string()
        guard let script = languageScripts[code] ?? (ScriptFilter.scripts[code] != nil ? code : nil) else {
          throw node.error(
            "unknown language '\(code)' (a code: \(languageScripts.keys.sorted().joined(separator: ", ")); "
              + "or a script: \(ScriptFilter.scripts.keys.sorted().joined(separator: ", ")))")
        }
        s.script = script
      }
      s.answerLLM.endpointName = try params.optionalString("answer_endpoint")
      s.answerLLM.model = try params.optionalString("answer_model")
      // The stage's `reasoning` is its answers' too (the pre-query replies are user turns).
      s.answerLLM.reasoning = s.llm.reasoning
      if let map = try params.map("answer_sampling") {
        s.answerLLM.stageSampling = try Sampling.parse(map)
        try map.finish()
      }
      return s
    }
  }

  static func parseTemplate(_ params: ConfigMap) throws(InstillError) -> Template {
    guard let node = params.node("template") else { return .auto }
    if case .object = try node.json() {
      let map = try node.mapping()
      let withSystem = try map.string("pre_query")
      let layout = ChatLayout(
        name: "custom", withSystem: withSystem,
        withoutSystem: try map.string(
          "pre_query_without_system", default: withSystem.replacingOccurrences(of: ChatLayout.systemSlot, with: "")),
        userEnd: try map.string("user_end", default: ""), assistantEnd: try map.string("assistant_end", default: ""),
        endOfTurn: try map.string("end_of_turn"))
      try map.finish()
      guard !layout.endOfTurn.isEmpty else { throw node.error("end_of_turn is empty") }
      return .builtin(layout)
    }
    let name = try node.string()
    if name == "auto" { return .auto }
    guard let layout = ChatLayout.builtins[name] else {
      throw node.error(
        "unknown template '\(name)' (auto, \(ChatLayout.builtins.keys.sorted().joined(separator: ", ")), "
          + "or a mapping with pre_query, end_of_turn, user_end, assistant_end)")
    }
    return .builtin(layout)
  }

  /// `system_prompts`: a list, or a file (one per line, or JSON lines with `system`).
  static func parseSystemPrompts(_ params: ConfigMap, context: StageBuildContext) throws(InstillError)
    -> Steering.List?
  {
    guard let node = params.node("system_prompts") else { return nil }
    let entries: [Steering.Entry]
    if case .array = try node.json() {
      let list = try params.stringList("system_prompts") ?? []
      guard !list.isEmpty, list.allSatisfy({ !Text.isBlank($0) }) else {
        throw node.error("system_prompts must be a non-empty list of non-empty texts")
      }
      entries = list.map { Steering.Entry(text: $0, weight: 1) }
    } else {
      entries = try Steering.entries(path: context.inputFile(node), kind: "system")
    }
    return Steering.List(kind: "system", entries: entries, template: "{system}")
  }

  // MARK: Growth

  public func checkSeeds(_ seeds: [Record], stageName: String) throws(InstillError) {}

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    var stage = self
    if stage.layout == nil {
      let backend = try context.llmBackend(endpoint: llm.endpointName)
      guard let served = try await ChatLayout.served(by: backend) else {
        throw InstillError.input(
          "stage \(context.stageName): template: auto needs the server to apply its chat template "
            + "(llama-server's /apply-template), and endpoint \(llm.endpointName ?? "llm") does not; "
            + "name the template instead (\(ChatLayout.builtins.keys.sorted().joined(separator: ", "))) "
            + "or give a custom one",
          field: "template")
      }
      context.logger.info("magpie: the served chat template ends a user turn with \(served.endOfTurn)")
      stage.layout = served
      stage.llm.methodSampling.stop = [served.endOfTurn]
    }
    try await stage.grow(input, into: output, context: context)
  }

  public func prompt(seeds: [Record], accepted: [Record], random: inout SeededRandom) -> FewShotPrompt {
    prompt(seeds: seeds, accepted: accepted, steering: nil, random: &random)
  }

  /// The pre-query: a rotated system prompt (with the steering sentences after it) in the layout.
  public func prompt(seeds: [Record], accepted: [Record], steering: Steering.Draw?, random: inout SeededRandom)
    -> FewShotPrompt
  {
    var system = systemPrompts?.draw(&random)
    if let steering {
      system = system.map { $0 + " " + steering.text } ?? steering.text
    }
    return .single(layout!.preQuery(system: system))
  }

  public func candidates(in response: LLMResponse, round: Int, prompt k: Int, stats: StatsRecorder) -> [GrowthCandidate]
  {
    candidates(in: response, sent: .single(""), round: round, prompt: k, stats: stats)
  }

  public func candidates(
    in response: LLMResponse, sent: FewShotPrompt, round: Int, prompt k: Int, stats: StatsRecorder
  ) -> [GrowthCandidate] {
    guard let text = Self.userTurn(response) else {
      return [.rejected(filter: "unterminated", reason: "turn_not_closed", example: response.text)]
    }
    var record = Record([
      "id": .string("magpie-\(round)-\(k)"), "instruction": .string(text), "input": .string(""),
      "output": .string(""),
    ])
    if let system = layout!.system(in: sent.query) { record["system"] = .string(system) }
    return [.candidate(record)]
  }

  /// The user's turn in a pre-query reply: nil when the length limit cut it
  /// before the end-of-turn; an empty turn is left to the length check.
  static func userTurn(_ response: LLMResponse) -> String? {
    guard !response.truncated else { return nil }
    return response.text.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// A chat-only endpoint answers raw completion requests with 404 (or 405,
  /// 501): that is a setup error, not a reply to drop.
  public func check(replies: [Result<LLMResponse, LLMFailure>], round: Int, context: StageContext) throws {
    for case .failure(let failure) in replies where ["http_404", "http_405", "http_501"].contains(failure.kind) {
      throw InstillError.input(
        "stage \(context.stageName): endpoint \(llm.endpointName ?? "llm") has no completion route "
          + "(\(failure.message)). Magpie sends raw completion requests (POST /completions) with the chat "
          + "template's pre-query; chat-only APIs cannot serve them. Use a server with a completion route "
          + "(llama-server, vLLM, TGI)",
        field: llm.endpointName.map { "endpoints.\($0)" } ?? "llm")
    }
  }
}

import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: unnatural_core` — Unnatural Instructions' core generation: each prompt
/// shows one seed set's three demonstrations (`Example 1`–`Example 3` with
/// `Instruction:`, `Input:`, `Constraints:`, in a seeded order) and opens
/// `Example 4`; nucleus sampling (top_p 0.99). Generated examples are dropped
/// when cut by the length limit (`truncated`), when a field is missing or empty
/// (`fields`, reason `missing_field:NAME`), when their instruction and input
/// equal a seed demonstration's (`copied_demonstration`), or when an accepted
/// example has the same instruction and input (`duplicate`). Grows to `target`.
public struct UnnaturalCoreStage: GrowthStage {
  public var growth = GrowthSettings()
  public var llm = StageLLM(
    sampling: Sampling(temperature: 1, topP: 0.99, maxTokens: 256, stop: ["Example 5"]),
    seedDrawnPer: "prompt")
  public var header =
    "Each example below is a task: an instruction, an input, and constraints on the output "
    + "(its possible values or form, or None). Write a new fourth example, different from the others, in the same format."

  public init() {}

  public var methodName: String { "unnatural_core" }
  public var noun: String { "examples" }
  public var mostSimilarField: String { "most_similar" }
  public var parseFilterNames: [String] { ["truncated", "fields"] }
  public var candidateFilters: FilterChain { FilterChain([]) }

  public func candidateFilters(seeds: [Record]) -> FilterChain {
    let keys = Set(
      seeds.map { Text.collapsingWhitespace($0.instruction) + "\u{1}" + Text.collapsingWhitespace($0.input) })
    return FilterChain([CopiedDemonstration(seeds: keys)])
  }
  public var usesSimilarityPool: Bool { false }
  public var dropsDuplicates: Bool { true }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("unnatural_core") { params, context throws(InstillError) in
      var s = UnnaturalCoreStage()
      try s.growth.parse(params)
      try s.growth.parseSteering(params, context: context)
      try s.llm.parse(params)
      s.header = try params.string("header", default: s.header)
      return s
    }
  }

  /// The demonstration sets: records grouped by `meta.seed_set`, or by three in order.
  static func sets(_ seeds: [Record]) -> [[Record]] {
    var groups: [String: [Record]] = [:]
    var order: [String] = []
    for (i, seed) in seeds.enumerated() {
      let key = seed.meta["seed_set"].map { JSONWriter.string($0) } ?? "#\(i / 3)"
      if groups[key] == nil { order.append(key) }
      groups[key, default: []].append(seed)
    }
    return order.compactMap { groups[$0] }.filter { $0.count >= 3 }
  }

  public func checkSeeds(_ seeds: [Record], stageName: String) throws(InstillError) {
    guard !Self.sets(seeds).isEmpty else {
      throw InstillError.input(
        "stage \(stageName) needs at least one set of 3 seed examples (instruction, input, constraints)")
    }
  }

  static let ask = "Write one more example."

  /// The prompt: the header, three demonstrations, then `Example 4` as text;
  /// as chat turns, each demonstration answers a request for one more example
  /// (chat models asked to continue one long message answer the examples instead).
  public func prompt(demonstrations: [Record]) -> FewShotPrompt {
    let shots = demonstrations.map { demo in
      FewShotPrompt.Shot(
        Self.ask,
        "Instruction: \(demo.instruction)\nInput: \(demo.input)\n"
          + "Constraints: \(demo.string("constraints") ?? "None")")
    }
    return FewShotPrompt(system: header, shots: shots, query: Self.ask, layout: .numbered("Example"))
  }

  public func prompt(seeds: [Record], accepted: [Record], random: inout SeededRandom) -> FewShotPrompt {
    let sets = Self.sets(seeds)
    let chosen = sets[random.below(sets.count)]
    return prompt(demonstrations: random.sample(chosen, count: 3))
  }

  public func candidates(in response: LLMResponse, round: Int, prompt k: Int, stats: StatsRecorder) -> [GrowthCandidate]
  {
    if response.truncated {
      return [.rejected(filter: "truncated", reason: "cut_by_length_limit", example: response.text)]
    }
    switch UnnaturalParsing.example(response.text) {
    case .failure(let missing):
      return [.rejected(filter: "fields", reason: "missing_field:\(missing.name)", example: response.text)]
    case .success(let example):
      var record = Record([
        "id": .string("un-\(round)-\(k)"), "instruction": .string(example.instruction),
        "input": .string(example.input), "output": .string(""),
      ])
      record["constraints"] = .string(example.constraints)
      return [.candidate(record)]
    }
  }
}

/// Drops an example whose instruction and input equal a seed demonstration's.
struct CopiedDemonstration: RecordFilter {
  let name = "copied_demonstration"
  let seeds: Set<String>
  var exampleField: String { "instruction" }
  func check(_ record: Record) -> String? {
    seeds.contains(Text.collapsingWhitespace(record.instruction) + "\u{1}" + Text.collapsingWhitespace(record.input))
      ? "same_as_demonstration" : nil
  }
}

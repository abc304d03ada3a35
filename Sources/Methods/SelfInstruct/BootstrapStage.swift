import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: self_instruct` — Self-Instruct's bootstrap: rounds of prompts, each
/// showing 8 instructions (up to 2 machine-generated, the rest seeds, shuffled)
/// as a numbered list for the model to continue, until `target` new
/// instructions pass the heuristics and the ROUGE-L pool (> 0.7 rejected; pool =
/// seeds + accepted). Input: the seed tasks (a `read` stage with
/// `format: self_instruct`). Output: the new instructions only.
public struct BootstrapStage: GrowthStage {
  public var growth = GrowthSettings()
  public var heuristics = HeuristicSettings(keywords: SelfInstructFilters.selfInstructKeywords)
  public var examplesPerPrompt = 8
  public var machineExamples = 2
  public var llm = StageLLM(
    sampling: Sampling(
      temperature: 0.7, topP: 0.5, maxTokens: 1024,
      stop: ["\n\n", "\n16", "16.", "16 ."], presencePenalty: 2, frequencyPenalty: 0),
    seedDrawnPer: "prompt")
  public var capitalize = true
  /// Also pass the seed tasks on, after the new ones (the original's
  /// `--include_seed_tasks`): their own instances then reach the dataset.
  public var includeSeeds = false
  public var header =
    "Here is a numbered list of varied tasks that a person might ask an assistant to do. "
    + "Continue the list with new tasks that are different from the ones above."

  public init() {}

  public var methodName: String { "self_instruct" }
  public var noun: String { "instructions" }
  public var mostSimilarField: String { "most_similar" }
  public var candidateFilters: FilterChain { heuristics.filters }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("self_instruct") { params, context throws(InstillError) in
      var s = BootstrapStage()
      try s.growth.parse(params)
      try s.growth.parseSteering(params, context: context)
      try s.heuristics.parse(params)
      try s.llm.parse(params)
      s.examplesPerPrompt = try params.int("examples_per_prompt", default: s.examplesPerPrompt, in: 1...64)
      s.machineExamples = try params.int("machine_examples", default: s.machineExamples, in: 0...64)
      s.capitalize = try params.bool("capitalize", default: s.capitalize)
      s.includeSeeds = try params.bool("include_seeds", default: s.includeSeeds)
      s.header = try params.string("header", default: s.header)
      if s.machineExamples > s.examplesPerPrompt {
        throw params.owner.error(
          "machine_examples (\(s.machineExamples)) exceeds examples_per_prompt (\(s.examplesPerPrompt))")
      }
      return s
    }
  }

  /// The prompt: header, then the examples numbered from 1, then the next number.
  public func prompt(examples: [String]) -> String {
    var text = header + "\n"
    for (i, example) in examples.enumerated() {
      text += "\(i + 1). \(SelfInstructParsing.promptLine(example))\n"
    }
    return text + "\(examples.count + 1)."
  }

  public func checkSeeds(_ seeds: [Record], stageName: String) throws(InstillError) {
    guard !seeds.isEmpty else { throw InstillError.input("stage \(stageName) has no seed instructions") }
  }

  public func prompt(seeds: [Record], accepted: [Record], random: inout SeededRandom) -> FewShotPrompt {
    let fromMachine = random.sample(accepted, count: min(machineExamples, accepted.count)).map(\.instruction)
    var examples = fromMachine + random.sample(seeds, count: examplesPerPrompt - fromMachine.count).map(\.instruction)
    random.shuffle(&examples)
    return .single(prompt(examples: examples))
  }

  public func candidates(in response: LLMResponse, round: Int, prompt k: Int, stats: StatsRecorder) -> [GrowthCandidate]
  {
    if response.truncated {
      // The original discards a reply cut by the length limit.
      stats.count("replies_discarded_truncated")
      return []
    }
    let texts = SelfInstructParsing.instructions(
      fromContinuation: response.text, firstNumber: examplesPerPrompt + 1,
      capitalize: capitalize)
    stats.count("candidates", texts.count)
    return texts.enumerated().map { j, text in
      .candidate(
        Record([
          "id": .string("si-\(round)-\(k)-\(j)"), "instruction": .string(text), "input": .string(""),
          "output": .string(""),
        ]))
    }
  }

  public func finish(seeds: [Record], output: ShardedOutput, stats: StatsRecorder) throws {
    guard includeSeeds else { return }
    for seed in seeds {
      stats.recordIn()
      try output.write(seed)
      stats.recordOut()
      stats.count("seeds_passed_on")
    }
  }
}

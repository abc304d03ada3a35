import Foundation
import InstillCore
import InstillRouge

/// `kind: self_instruct` — Self-Instruct's bootstrap: rounds of prompts, each
/// showing 8 instructions (up to 2 machine-generated, the rest seeds, shuffled)
/// as a numbered list for the model to continue, until `target` new
/// instructions pass the heuristics and the ROUGE-L pool (> 0.7 rejected; pool =
/// seeds + accepted). Input: the seed tasks (a `read` stage with
/// `format: self_instruct`). Output: the new instructions only. Statistics count
/// the parsed candidates as records in, so in = out + every filter's drops.
public struct BootstrapStage: GlobalStage {
  public var growth = GrowthSettings(keywords: SelfInstructFilters.selfInstructKeywords)
  public var examplesPerPrompt = 8
  public var machineExamples = 2
  public var llm = StageLLM(sampling: Sampling(temperature: 0.7, topP: 0.5, maxTokens: 1024,
                                               stop: ["\n\n", "\n16", "16.", "16 ."], presencePenalty: 2, frequencyPenalty: 0))
  public var capitalize = true
  /// Also pass the seed tasks on, after the new ones (the original's
  /// `--include_seed_tasks`): their own instances then reach the dataset.
  public var includeSeeds = false
  public var header = "Here is a numbered list of varied tasks that a person might ask an assistant to do. "
    + "Continue the list with new tasks that are different from the ones above."

  public init() {}

  public var outputRecordsPerShard: Int { growth.recordsPerShard }
  public var usesLLM: Bool { true }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("self_instruct") { params, _ throws(InstillError) in
      var s = BootstrapStage()
      try s.growth.parse(params)
      try s.llm.parse(params)
      s.examplesPerPrompt = try params.int("examples_per_prompt", default: s.examplesPerPrompt, in: 1...64)
      s.machineExamples = try params.int("machine_examples", default: s.machineExamples, in: 0...64)
      s.capitalize = try params.bool("capitalize", default: s.capitalize)
      s.includeSeeds = try params.bool("include_seeds", default: s.includeSeeds)
      s.header = try params.string("header", default: s.header)
      if s.machineExamples > s.examplesPerPrompt {
        throw params.owner.error("machine_examples (\(s.machineExamples)) exceeds examples_per_prompt (\(s.examplesPerPrompt))")
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

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    var seeds: [String] = []
    try input.forEach { seeds.append($0.instruction) }
    guard !seeds.isEmpty else { throw InstillError.input("stage \(context.stageName) has no seed instructions") }
    context.stats.count("seeds", seeds.count)
    let session = try context.llmSession()
    defer { session.close() }
    let model = llm.resolved(for: session).model
    let (filters, target, rounds) = (growth.filters, growth.target, growth.rounds)
    context.stats.declareFilters(filters.names + ["rouge_l"])
    let pool = SimilarityPool(seeds: seeds, threshold: growth.rougeThreshold)
    var machine: [String] = []
    var round = 0
    while machine.count < target {
      guard round < rounds else {
        context.logger.warning("self_instruct: stopped after \(rounds) rounds with \(machine.count) of \(target) instructions (max_rounds)")
        break
      }
      try context.checkStop()
      let machineSnapshot = machine
      let prompts: [RoundPrompt] = (0..<growth.promptsPerRound).map { k in
        var random = context.random(item: GrowthSettings.item(round: round, prompt: k))
        let fromMachine = random.sample(machineSnapshot, count: min(machineExamples, machineSnapshot.count))
        var examples = fromMachine + random.sample(seeds, count: examplesPerPrompt - fromMachine.count)
        random.shuffle(&examples)
        return RoundPrompt(prompt(examples: examples), random: &random)
      }
      let replies = try await sendRound(prompts, session: session, llm: llm, control: context.control)
      for (k, result) in replies.enumerated() {
        guard machine.count < target else { break }  // replies past the target are journaled, not used
        guard case .success(let response) = result else { continue }  // counted under llm.failed
        if response.truncated {
          // The original discards a reply cut by the length limit.
          context.stats.count("replies_discarded_truncated")
          continue
        }
        let candidates = SelfInstructParsing.instructions(fromContinuation: response.text, firstNumber: examplesPerPrompt + 1,
                                                          capitalize: capitalize)
        context.stats.count("candidates", candidates.count)
        for (j, text) in candidates.enumerated() {
          guard machine.count < target else { break }
          var record = Record(["id": .string("si-\(round)-\(k)-\(j)"), "instruction": .string(text), "input": .string(""),
                               "output": .string("")])
          context.stats.update { $0.recordsIn += 1 }
          guard filters.keep(record, stats: context.stats) else { continue }
          let verdict = pool.admit(text, stats: context.stats)
          guard verdict.kept else { continue }
          // Like the original: the ten most similar pool texts and the mean similarity over the pool.
          record["most_similar"] = .object(verdict.mostSimilar)
          record["avg_similarity_score"] = .double(verdict.average)
          record.meta = ["method": .string("self_instruct"), "round": .int(round), "request_idx": .int(k), "model": .string(model)]
          try output.write(record)
          context.stats.recordOut()
          machine.append(text)
        }
      }
      round += 1
      context.stats.update { $0.counters["rounds"] = round }
      context.logger.info("self_instruct round \(round): \(machine.count) of \(target) instructions")
    }
    if includeSeeds {
      try input.forEach { seed in
        context.stats.recordIn()
        try output.write(seed)
        context.stats.recordOut()
        context.stats.count("seeds_passed_on")
      }
    }
  }
}

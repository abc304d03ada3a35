import InstillCore
import InstillFilters
import InstillLLM

/// One piece of a reply, as a growth stage's parser sees it.
public enum GrowthCandidate: Sendable {
  /// A candidate record: it passed every one of the method's parse checks.
  case candidate(Record)
  /// A piece that one of the method's parse checks (`parseFilterNames`)
  /// dropped; it passed the checks before that one.
  case rejected(filter: String, reason: String, example: String)
}

/// A global stage that grows a set of records from seeds, as Self-Instruct and
/// its Alpaca variant do: rounds of seeded prompts sent together, replies used
/// in prompt order, each candidate screened by the method's parse checks, its
/// `candidateFilters` and the ROUGE-L pool (seeds + accepted), until `target`
/// are accepted or `max_rounds` pass. A method writes the prompt builder and
/// the parser; the loop, its counts and the pool are the kit's.
///
/// Statistics count candidates as records in, so in = out + every filter's drops.
/// Accepted records get the ten most similar pool texts (`mostSimilarField`),
/// `avg_similarity_score`, and `meta` {method, round, request_idx, model}.
public protocol GrowthStage: GlobalStage, LLMStage {
  var growth: GrowthSettings { get }
  /// `meta.method` and the name in log lines.
  var methodName: String { get }
  /// What log lines call the grown records ("instructions", "tasks").
  var noun: String { get }
  /// The field that receives the most similar pool texts.
  var mostSimilarField: String { get }
  /// The checks the parser reports (declared first, in this order).
  var parseFilterNames: [String] { get }
  /// Filters between parsing and the pool, in order.
  var candidateFilters: FilterChain { get }
  /// The same, for filters that depend on the seeds (default: `candidateFilters`).
  func candidateFilters(seeds: [Record]) -> FilterChain
  /// True (default) to screen candidates with the ROUGE-L pool.
  var usesSimilarityPool: Bool { get }
  /// True to drop a candidate whose `duplicateKey` an accepted record has (filter `duplicate`).
  var dropsDuplicates: Bool { get }
  /// The identity of a record for `dropsDuplicates` (default: instruction and input).
  func duplicateKey(_ record: Record) -> String
  /// Throws an input error when the seeds cannot feed the prompts.
  func checkSeeds(_ seeds: [Record], stageName: String) throws(InstillError)
  /// One prompt of a round, from the seeds and the records accepted so far.
  func prompt(seeds: [Record], accepted: [Record], random: inout SeededRandom) -> FewShotPrompt
  /// The same with the prompt's steering (`topics`, `personas`), when the stage
  /// has some. Default: the sentences after the first line of the instructions.
  func prompt(seeds: [Record], accepted: [Record], steering: Steering.Draw?, random: inout SeededRandom)
    -> FewShotPrompt
  /// Looks at a round's replies before they are used; throws to stop the stage
  /// (e.g. an endpoint without the route the method needs). Default: nothing.
  func check(replies: [Result<LLMResponse, LLMFailure>], round: Int, context: StageContext) throws
  /// Completes the records a round accepted with more requests (e.g. answers
  /// them) and returns those to write; a record left out must be counted as a
  /// drop by the stage. Default: the records as they are.
  func complete(_ records: [Record], round: Int, session: LLMSession, context: StageContext) async throws -> [Record]
  /// The candidates in the reply to prompt `prompt` of `round`, in order.
  func candidates(in response: LLMResponse, round: Int, prompt: Int, stats: StatsRecorder) -> [GrowthCandidate]
  /// The same, given the prompt that was sent (default: the one above).
  func candidates(in response: LLMResponse, sent: FewShotPrompt, round: Int, prompt: Int, stats: StatsRecorder)
    -> [GrowthCandidate]
  /// Called once the set is grown (e.g. to pass the seeds on).
  func finish(seeds: [Record], output: ShardedOutput, stats: StatsRecorder) throws
}

extension GrowthStage {
  public var parseFilterNames: [String] { [] }
  public var usesSimilarityPool: Bool { true }
  public func candidateFilters(seeds: [Record]) -> FilterChain { candidateFilters }
  public var dropsDuplicates: Bool { false }
  public func duplicateKey(_ record: Record) -> String { record.instruction + "\u{1}" + record.input }
  public var outputRecordsPerShard: Int { growth.recordsPerShard }
  public func finish(seeds: [Record], output: ShardedOutput, stats: StatsRecorder) throws {}
  public func prompt(seeds: [Record], accepted: [Record], steering: Steering.Draw?, random: inout SeededRandom)
    -> FewShotPrompt
  {
    let prompt = prompt(seeds: seeds, accepted: accepted, random: &random)
    return steering.map { prompt.steered($0.text) } ?? prompt
  }
  public func candidates(
    in response: LLMResponse, sent: FewShotPrompt, round: Int, prompt k: Int, stats: StatsRecorder
  ) -> [GrowthCandidate] {
    candidates(in: response, round: round, prompt: k, stats: stats)
  }
  public func check(replies: [Result<LLMResponse, LLMFailure>], round: Int, context: StageContext) throws {}
  public func complete(_ records: [Record], round: Int, session: LLMSession, context: StageContext) async throws
    -> [Record]
  { records }

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    try await grow(input, into: output, context: context)
  }

  /// The growth loop (what `run` does unless the stage prepares something first).
  public func grow(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    var seeds: [Record] = []
    try input.forEach { seeds.append($0) }
    try checkSeeds(seeds, stageName: context.stageName)
    context.stats.count("seeds", seeds.count)
    let session = try context.llmSession(endpoint: llm.endpointName)
    defer { session.close() }
    let model = llm.resolved(for: session).model
    let keepsReasoning = llm.keepsReasoning(on: session)
    let filters = candidateFilters(seeds: seeds)
    let parseTrail = FilterTrail(parseFilterNames)
    context.stats.declareFilters(
      parseFilterNames + filters.names + (dropsDuplicates ? ["duplicate"] : [])
        + (growth.maxSameOpening != nil ? ["opening"] : []) + (usesSimilarityPool ? ["rouge_l"] : []))
    let pool =
      usesSimilarityPool ? SimilarityPool(seeds: seeds.map(\.instruction), threshold: growth.rougeThreshold) : nil
    var openings = growth.maxSameOpening.map { OpeningCap(fraction: $0, target: growth.target) }
    var seen = Set<String>()
    var accepted: [Record] = []
    var round = 0
    while accepted.count < growth.target {
      guard round < growth.rounds else {
        context.logger.warning(
          "\(methodName): stopped after \(round) rounds with \(accepted.count) of \(growth.target) \(noun) (max_rounds)"
        )
        break
      }
      try context.checkStop()
      var draws: [Steering.Draw?] = []
      let prompts: [RoundPrompt] = (0..<growth.promptsPerRound).map { k in
        let item = GrowthSettings.item(round: round, prompt: k)
        var random = context.random(item: item)
        // Steering has its own stream: with or without it, a prompt's other choices are the same.
        var steeringRandom = context.random(item: item | GrowthSettings.steeringStream)
        let draw = growth.steering.draw(&steeringRandom)
        draws.append(draw)
        return RoundPrompt(prompt(seeds: seeds, accepted: accepted, steering: draw, random: &random), random: &random)
      }
      let replies = try await sendRound(
        prompts, session: session, llm: llm, control: context.control,
        stageName: context.stageName)
      try check(replies: replies, round: round, context: context)
      var batch: [Record] = []
      for (k, result) in replies.enumerated() {
        // Replies past the target are journaled, not used.
        guard accepted.count + batch.count < growth.target else { break }
        Steering.record(draws[k], prompts: 1, stats: context.stats)
        guard case .success(let response) = result else { continue }  // counted under llm.failed
        for candidate in candidates(
          in: response, sent: prompts[k].prompt, round: round, prompt: k, stats: context.stats)
        {
          guard accepted.count + batch.count < growth.target else { break }
          context.stats.recordIn()
          guard
            let record = screen(
              candidate, parseTrail: parseTrail, filters: filters, pool: pool, openings: &openings, seen: &seen,
              stats: context.stats)
          else {
            continue
          }
          var kept = record
          var meta: JSONObject = [
            "method": .string(methodName), "round": .int(round), "request_idx": .int(k), "model": .string(model),
          ]
          for (key, value) in draws[k]?.meta ?? [:] { meta[key] = value }
          kept.meta = meta
          // The trace of the reply this record came from (shared by every record of that reply).
          kept.keepReasoning(response.reasoning, for: "instruction", keepsReasoning)
          batch.append(kept)
        }
      }
      for record in try await complete(batch, round: round, session: session, context: context) {
        try output.write(record)
        context.stats.recordOut()
        if let k = record.meta["request_idx"]?.intValue, k < draws.count {
          Steering.record(draws[k], kept: 1, stats: context.stats)
        }
        accepted.append(record)
      }
      round += 1
      context.stats.update { $0.counters["rounds"] = round }
      context.logger.info("\(methodName) round \(round): \(accepted.count) of \(growth.target) \(noun)")
    }
    try finish(seeds: seeds, output: output, stats: context.stats)
  }

  /// The candidate with its similarity fields when every check keeps it.
  func screen(
    _ candidate: GrowthCandidate, parseTrail: FilterTrail, filters: FilterChain, pool: SimilarityPool?,
    openings: inout OpeningCap?, seen: inout Set<String>, stats: StatsRecorder
  ) -> Record? {
    switch candidate {
    case .rejected(let filter, let reason, let example):
      parseTrail.rejected(by: filter, reason: reason, example: example, stats)
      return nil
    case .candidate(var record):
      parseTrail.passedAll(stats)
      guard filters.keep(record, stats: stats) else { return nil }
      if dropsDuplicates {
        let fresh = seen.insert(duplicateKey(record)).inserted
        stats.filter("duplicate", kept: fresh, reason: "same_instruction_and_input", example: record.instruction)
        guard fresh else { return nil }
      }
      let opening = Openings.opening(record.instruction)
      if let cap = openings {
        let allowed = cap.allows(opening)
        stats.filter(
          "opening", kept: allowed, reason: "max_same_opening",
          example: allowed ? nil : "[\(opening)] " + record.instruction)
        guard allowed else { return nil }
      }
      guard let pool else {
        openings?.add(opening)
        return record
      }
      let verdict = pool.admit(record.instruction, stats: stats)
      guard verdict.kept else { return nil }
      openings?.add(opening)
      // Like the originals: the ten most similar pool texts and the mean similarity over the pool.
      record[mostSimilarField] = .object(verdict.mostSimilar)
      record["avg_similarity_score"] = .double(verdict.average)
      return record
    }
  }
}

extension GrowthStage {
  public var progressTarget: Int? { growth.target }
}

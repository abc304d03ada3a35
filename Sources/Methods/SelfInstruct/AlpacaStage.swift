import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// Parsing of the Alpaca variant's replies, as Stanford Alpaca's generator parses them.
public enum AlpacaParsing {
  /// One parsed chunk: a task, or why the chunk could not be read.
  public enum Chunk: Equatable, Sendable {
    case task(instruction: String, input: String, output: String)
    case malformed(String)
  }

  /// The reply continues a prompt that ended with `N. Instruction:` (N =
  /// `firstNumber`); like the original we prepend that line and split on `###`;
  /// chunk k is numbered firstNumber + k. A chat reply that restates
  /// `N. Instruction:` itself is taken as is. When the reply was cut by the length
  /// limit its last chunk is returned as `cut` instead. Whitespace-only chunks are
  /// skipped (they still use up their number, as in the original).
  public static func chunks(_ reply: String, firstNumber: Int, truncated: Bool)
    -> (chunks: [(number: Int, text: String)], cut: String?)
  {
    let restated = reply.prefixMatch(of: /\s*\d+\.\s+Instruction:/) != nil
    var all = (restated ? reply : "\(firstNumber). Instruction:" + reply).components(separatedBy: "###")
    var cut: String?
    if truncated, let last = all.popLast(), !last.allSatisfy(\.isWhitespace) { cut = last }
    let numbered = all.enumerated().map { (number: firstNumber + $0.offset, text: $0.element) }
    return (numbered.filter { !$0.text.allSatisfy(\.isWhitespace) }, cut)
  }

  /// Reads one chunk; like the original it must split on `number. Instruction:`,
  /// `number. Input:` and `number. Output:` into exactly three fields (we also
  /// require that order; the original took fields by position). `<noinput>` (any
  /// case) becomes an empty input.
  public static func task(_ chunk: String, number: Int) -> Chunk {
    var parts: [Substring] = []
    var labels: [Substring] = []
    var rest = chunk[...]
    let marker = markerRegex(number)
    while let match = rest.firstMatch(of: marker) {
      parts.append(rest[..<match.range.lowerBound])
      labels.append(match.output.1)
      rest = rest[match.range.upperBound...]
    }
    parts.append(rest)
    guard parts.count == 4, labels == ["Instruction", "Input", "Output"] else {
      return .malformed(labels.isEmpty ? "wrong_numbering" : "missing_fields")
    }
    let strip = { (s: Substring) in s.trimmingCharacters(in: .whitespacesAndNewlines) }
    let input = strip(parts[2])
    return .task(
      instruction: strip(parts[1]), input: input.lowercased() == "<noinput>" ? "" : input, output: strip(parts[3]))
  }

  static func markerRegex(_ number: Int) -> Regex<(Substring, Substring)> {
    // `{n}\.\s+(Instruction|Input|Output):` as in the original.
    // The pattern is built from an integer, so it always compiles.
    try! Regex("\(number)\\.\\s+(Instruction|Input|Output):", as: (Substring, Substring).self)
  }
}

/// `kind: alpaca` — the Alpaca variant of Self-Instruct: each prompt lists the
/// requirements, shows 3 seed tasks (instruction, input or `<noinput>`, output;
/// machine-generated tasks are never shown) and asks for the rest of a list of
/// `tasks_per_request` tasks, which come back with their input and output. Parsed
/// tasks pass the heuristics (the extended keyword blacklist, no capitalisation)
/// and the ROUGE-L pool (seeds + accepted; > 0.7 rejected) until `target` are
/// accepted. Statistics count the reply's chunks as records in.
public struct AlpacaStage: GrowthStage {
  public var growth = GrowthSettings()
  public var heuristics = HeuristicSettings(keywords: SelfInstructFilters.alpacaKeywords)
  public var examplesPerPrompt = 3
  public var tasksPerRequest = 20
  /// The original's decoding; `stop` follows `tasks_per_request`.
  public var llm = StageLLM(
    sampling: Sampling(temperature: 1, topP: 1, maxTokens: 3072),
    seedDrawnPer: "prompt")
  public var header: String?

  public init() {}

  public var methodName: String { "alpaca" }
  public var noun: String { "tasks" }
  public var mostSimilarField: String { "most_similar_instructions" }
  public var parseFilterNames: [String] { ["truncated", "format"] }
  public var candidateFilters: FilterChain { heuristics.filters }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("alpaca") { params, context throws(InstillError) in
      var s = AlpacaStage()
      try s.growth.parse(params)
      try s.growth.parseSteering(params, context: context)
      try s.heuristics.parse(params)
      try s.llm.parse(params)
      s.examplesPerPrompt = try params.int("examples_per_prompt", default: s.examplesPerPrompt, in: 1...64)
      s.tasksPerRequest = try params.int("tasks_per_request", default: s.tasksPerRequest, in: 2...1000)
      s.header = try params.optionalString("header")
      if s.examplesPerPrompt >= s.tasksPerRequest {
        throw params.owner.error(
          "examples_per_prompt (\(s.examplesPerPrompt)) must be below tasks_per_request (\(s.tasksPerRequest))")
      }
      // Like the original: stop where the list would go past its last number.
      s.llm.methodSampling.stop = ["\n\(s.tasksPerRequest)", "\(s.tasksPerRequest).", "\(s.tasksPerRequest)."]
      return s
    }
  }

  /// Our wording of the Alpaca requirements (numbered correctly).
  public static func defaultHeader(tasks: Int) -> String {
    """
    You are asked to come up with a set of \(tasks) diverse task instructions. They will be given to a \
    language model, and we will judge how well it carries them out.

    Requirements:
    1. Do not repeat a verb from one instruction to the next, so that the set stays diverse.
    2. Vary the wording: mix questions with imperative instructions.
    3. Vary the kind of task: open-ended writing, brainstorming, classification, editing, rewriting, \
    question answering, reasoning, and so on.
    4. Every task must be possible for a text-only language model: it cannot produce pictures or sound, \
    and it cannot act in the world (set a reminder, book a table, buy something).
    5. Write in English.
    6. Keep each instruction to one or two sentences; a question or a command are both fine.
    7. When a task needs an input, write a specific, realistic one of at most about 100 words — real \
    content, never a placeholder.
    8. Many tasks need no input (a general knowledge question, for example); for those write "<noinput>" \
    as the input.
    9. The output must be a fitting answer to the instruction and the input, under 100 words.

    List of \(tasks) tasks:
    """
  }

  /// The prompt: requirements, the examples as `###`-separated numbered entries,
  /// then `###` and the next number's `Instruction:`.
  public func prompt(examples: [(instruction: String, input: String, output: String)]) -> String {
    var text = (header ?? Self.defaultHeader(tasks: tasksPerRequest)) + "\n"
    for (i, example) in examples.enumerated() {
      text += "###\n\(i + 1). Instruction: \(SelfInstructParsing.promptLine(example.instruction))\n"
      text += "\(i + 1). Input:\n\(example.input.isEmpty ? "<noinput>" : example.input)\n"
      text += "\(i + 1). Output:\n\(example.output)\n"
    }
    return text + "###\n\(examples.count + 1). Instruction:"
  }

  public func checkSeeds(_ seeds: [Record], stageName: String) throws(InstillError) {
    guard seeds.count >= examplesPerPrompt else {
      throw InstillError.input(
        "stage \(stageName) needs at least \(examplesPerPrompt) seed tasks, found \(seeds.count)")
    }
  }

  public func prompt(seeds: [Record], accepted: [Record], random: inout SeededRandom) -> FewShotPrompt {
    .single(
      prompt(examples: random.sample(seeds, count: examplesPerPrompt).map { ($0.instruction, $0.input, $0.output) }))
  }

  public func candidates(in response: LLMResponse, round: Int, prompt k: Int, stats: StatsRecorder) -> [GrowthCandidate]
  {
    let (chunks, cut) = AlpacaParsing.chunks(
      response.text, firstNumber: examplesPerPrompt + 1, truncated: response.truncated)
    var out: [GrowthCandidate] = []
    if let cut { out.append(.rejected(filter: "truncated", reason: "cut_by_length_limit", example: cut)) }
    for chunk in chunks {
      switch AlpacaParsing.task(chunk.text, number: chunk.number) {
      case .malformed(let reason):
        out.append(.rejected(filter: "format", reason: reason, example: chunk.text))
      case .task(let instruction, let input, let output):
        out.append(
          .candidate(
            Record([
              "id": .string("alpaca-\(round)-\(k)-\(chunk.number)"), "instruction": .string(instruction),
              "input": .string(input), "output": .string(output),
            ])))
      }
    }
    return out
  }
}

import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM
import InstillRouge

/// `kind: reverse_instruct` — one instruction per document: the document is the
/// answer, the LLM writes what it answers. `mode: longform` asks zero-shot in
/// one of LongForm's three styles (instruction, informal chatbot message,
/// search-engine query), chosen per document from `styles` weights and the
/// seed, and may append a length hint ("Respond in N sentences."). `mode:
/// backtranslate` is Humpback's backward step done with few-shot prompting:
/// seed (instruction, output) pairs shown output-first. The output is the
/// document text unchanged; an empty, cut-off or echoed instruction is dropped.
public struct ReverseInstructStage: OneRequestStage {
  public enum Mode: String, Sendable, CaseIterable { case longform, backtranslate }

  public var mode = Mode.longform
  /// 256 tokens let a 2–4 sentence instruction through (Humpback's average
  /// about 350 characters); the blank-line stop ends it after its paragraph.
  public var llm = StageLLM(
    sampling: Sampling(temperature: 0.7, topP: 0.9, maxTokens: 256, stop: ["\n\n"]),
    seedDrawnPer: "document")
  public var textField = "text"
  public var styleWeights: [(ReversePrompts.Style, Double)] = ReversePrompts.Style.allCases.map { ($0, 1) }
  /// Probability of appending "Respond in N sentences." (longform).
  public var lengthHint = 0.0
  public var demonstrations: [(instruction: String, output: String)] = []
  public var shots = 3
  /// Draw the demonstrations per document instead of one fixed set (a stable prefix is faster).
  public var varyDemonstrations = false
  public var seed: UInt64 = 0

  public init() {}

  public var filterNames: [String] { ["instruction"] }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("reverse_instruct") { params, context throws(InstillError) in
      var s = ReverseInstructStage()
      s.seed = context.seed
      s.mode = try params.choice("mode", default: .longform)
      try s.llm.parse(params)
      s.textField = try params.string("text_field", default: "text")
      if let styles = try params.map("styles") {
        guard s.mode == .longform else {
          throw params.owner.error("'styles' applies to mode longform", field: "styles")
        }
        var weights: [(ReversePrompts.Style, Double)] = []
        for key in styles.keys {
          guard let style = ReversePrompts.Style(rawValue: key) else {
            throw (styles.node(key) ?? params.owner).error(
              "unknown style '\(key)' (styles: instruction, chatbot, query)")
          }
          weights.append((style, try styles.double(key, default: 1, in: 0...1_000_000)))
        }
        try styles.finish()
        guard weights.contains(where: { $0.1 > 0 }) else {
          throw params.owner.error("every style weight is 0", field: "styles")
        }
        s.styleWeights = ReversePrompts.Style.allCases.compactMap { style in weights.first { $0.0 == style } }
      }
      s.lengthHint = try params.double("length_hint", default: 0, in: 0...1)
      if s.mode == .backtranslate {
        let path = try context.inputFile(try params.require("seeds"))
        s.demonstrations = try Self.loadPairs(path)
        s.shots = try params.int("demonstrations", default: 3, in: 1...32)
        guard s.demonstrations.count >= s.shots else {
          throw InstillError.input(
            "\(s.demonstrations.count) pairs, fewer than demonstrations (\(s.shots))", file: path)
        }
        s.varyDemonstrations = try params.bool("vary_demonstrations", default: false)
      } else {
        for key in ["seeds", "demonstrations", "vary_demonstrations"] where params.has(key) {
          throw (params.node(key) ?? params.owner).error("'\(key)' applies to mode backtranslate")
        }
      }
      return s
    }
  }

  /// Seed pairs: JSON lines with `instruction` and `output` (Alpaca-style `input` appended to the instruction).
  static func loadPairs(_ path: String) throws(InstillError) -> [(instruction: String, output: String)] {
    let reader = try RecordReader(path: path)
    defer { reader.close() }
    var pairs: [(String, String)] = []
    while let record = try reader.read() {
      for field in ["instruction", "output"] {
        guard case .string(let text)? = record[field], !Text.trimmed(text).isEmpty else {
          throw InstillError.input("missing or empty", file: path, line: reader.lineNumber, field: field)
        }
      }
      let input = record.input
      pairs.append((input.isEmpty ? record.instruction : record.instruction + "\n\n" + input, record.output))
    }
    guard !pairs.isEmpty else { throw InstillError.input("no seed pairs in the file", file: path) }
    return pairs
  }

  /// The record's style, hint, demonstrations and sampling seed: drawn from the
  /// pipeline seed and the record id, so `request` and `handle` agree and a
  /// record gets the same choices whatever shard or position it is in.
  struct Choice {
    var style: ReversePrompts.Style?
    var hint: String?
    var demonstrations: [(instruction: String, output: String)]
    var samplingSeed = 0
  }

  func choose(_ document: String, id: String) -> Choice {
    var rng = SeededRandom(seed: seed, stream: "reverse_instruct/" + id, item: 0)
    var choice = Choice(style: nil, hint: nil, demonstrations: [])
    if mode == .longform {
      let total = styleWeights.reduce(0) { $0 + $1.1 }
      var x = Double.random(in: 0..<total, using: &rng)
      choice.style = styleWeights.last { $0.1 > 0 }?.0
      for (style, weight) in styleWeights where weight > 0 {
        if x < weight {
          choice.style = style
          break
        }
        x -= weight
      }
    } else {
      var demoRandom =
        varyDemonstrations ? rng : SeededRandom(seed: seed, stream: "reverse_instruct/demonstrations", item: 0)
      choice.demonstrations = Array(demonstrations.shuffled(using: &demoRandom).prefix(shots))
      if varyDemonstrations { rng = demoRandom }
    }
    if lengthHint > 0, Double.random(in: 0..<1, using: &rng) < lengthHint {
      choice.hint = ReversePrompts.lengthHint(for: document).hint
    }
    choice.samplingSeed = rng.nextSeed()
    return choice
  }

  public func request(for record: Record, _ call: RecordCall) -> RecordRequest {
    guard let document = record.string(textField), !Text.trimmed(document).isEmpty else {
      return .skip("no_text")
    }
    let choice = choose(document, id: record.id ?? "\(call.index)")
    let prompt =
      choice.style.map { FewShotPrompt(system: $0.task, query: $0.user(document)) }
      ?? ReversePrompts.backtranslate(choice.demonstrations, document)
    return .send(call.request(prompt, seed: choice.samplingSeed))
  }

  public func handle(_ response: LLMResponse, _ record: Record, _ sink: RecordSink) throws {
    let document = record.string(textField) ?? ""
    let choice = choose(document, id: record.id ?? "\(sink.index)")
    var instruction = ReversePrompts.clean(response.text, style: choice.style)
    let label = choice.style?.rawValue ?? "backtranslate"
    sink.count("style.\(label).asked")
    if instruction.isEmpty {
      return sink.filter("instruction", kept: false, reason: "empty", example: "\(label): \(response.text)")
    }
    if response.truncated {
      // Cut at the length limit: its complete sentences still make an instruction.
      guard let whole = ReversePrompts.completeSentences(instruction) else {
        return sink.filter("instruction", kept: false, reason: "truncated", example: "\(label): \(instruction)")
      }
      instruction = whole
      sink.count("trimmed_to_last_sentence")
    }
    if Self.echoes(instruction, document) {
      return sink.filter("instruction", kept: false, reason: "echo", example: "\(label): \(instruction)")
    }
    let folded = Text.collapsingWhitespace(instruction).lowercased()
    if choice.demonstrations.contains(where: { Text.collapsingWhitespace($0.instruction).lowercased() == folded }) {
      return sink.filter(
        "instruction", kept: false, reason: "copied_demonstration", example: "\(label): \(instruction)")
    }
    sink.filter("instruction", kept: true)
    sink.count("style.\(label).kept")
    if choice.hint != nil { sink.count("length_hints") }
    var out = Record()
    out.id = record.id ?? sink.fallbackID
    out["instruction"] = .string(choice.hint.map { instruction + " " + $0 } ?? instruction)
    out["input"] = .string("")
    out["output"] = .string(document)
    out.keepReasoning(response.reasoning, for: "instruction", sink.keepsReasoning)
    out.meta = record.meta
    out.updateMeta { meta in
      meta["method"] = .string("reverse_instructions")
      meta["reverse"] = .object([
        "mode": .string(mode.rawValue), "style": .string(label),
        "length_hint": choice.hint.map { .string($0) } ?? .null, "model": .string(sink.model),
      ])
    }
    try sink.emit(out)
  }

  /// The instruction copies the document back: a long verbatim stretch of it,
  /// or nearly all its words in the document's order (most of a short document).
  public static func echoes(_ instruction: String, _ document: String) -> Bool {
    func normalized(_ s: String) -> String {
      s.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
    let i = normalized(instruction)
    let d = normalized(document)
    if i.count >= 40 && d.contains(i) { return true }
    let it = RougeTokenizer.rougeScore.tokens(instruction)
    guard it.count >= 3 else { return false }
    let dt = RougeTokenizer.rougeScore.tokens(document)
    let copied = Double(RougeL.lcsLength(it, dt)) / Double(it.count)
    if it.count >= 12 && copied >= 0.95 { return true }
    return i.count * 10 >= d.count * 8 && copied >= 0.8
  }
}

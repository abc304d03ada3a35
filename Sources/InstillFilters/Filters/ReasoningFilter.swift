import InstillCore

/// `reasoning`: checks the thinking trace kept beside a field (`FIELD_reasoning`,
/// `output_reasoning` by default; `reasoning: keep` writes it) against the answer
/// in `field`:
/// - `require: true` drops a record without a trace (`no_trace`); otherwise one
///   without a trace passes every other check;
/// - `min_words` / `max_words` bound the trace's length (`trace_too_short`, `trace_too_long`);
/// - `max_restated` (default 0.9): a trace of which at least this share of words
///   are words of the answer, and that is no more than twice as long, only
///   restates it (`trace_restates_answer`); 1 turns the check off;
/// - `max_mixed` (default 0.05): the share of the trace's letters written in
///   another script than the answer's main one (R1-style language mixing)
///   above which it is dropped (`trace_language_mixing`); Han and kana count as one script; 1 turns it off.
public struct ReasoningFilter: RecordFilter {
  public let name: String
  public let field: String
  public let require: Bool
  public let minWords: Int?
  public let maxWords: Int?
  public let maxRestated: Double
  public let maxMixed: Double

  public init(
    name: String, field: String, require: Bool, minWords: Int?, maxWords: Int?, maxRestated: Double,
    maxMixed: Double
  ) {
    self.name = name
    self.field = field
    self.require = require
    self.minWords = minWords
    self.maxWords = maxWords
    self.maxRestated = maxRestated
    self.maxMixed = maxMixed
  }

  /// The field holding the trace (the same rule as the stages': `FIELD_reasoning`).
  public var traceField: String { field + "_reasoning" }
  public var exampleField: String { traceField }

  public func check(_ record: Record) -> String? {
    guard let trace = record.string(traceField), !Text.isBlank(trace) else { return require ? "no_trace" : nil }
    let answer = record.string(field) ?? ""
    let words = Self.words(trace)
    if let minWords, words.count < minWords { return "trace_too_short" }
    if let maxWords, words.count > maxWords { return "trace_too_long" }
    if maxRestated < 1, !words.isEmpty {
      let answerWords = Self.words(answer)
      let vocabulary = Set(answerWords)
      let restated = words.filter { vocabulary.contains($0) }.count
      if words.count <= 2 * max(1, answerWords.count), Double(restated) >= maxRestated * Double(words.count) {
        return "trace_restates_answer"
      }
    }
    if maxMixed < 1, let main = Self.mainScript(answer) ?? Self.mainScript(trace) {
      let letters = Self.scriptCounts(trace)
      let all = letters.values.reduce(0, +)
      let other = all - (letters[main] ?? 0)
      if all > 0, Double(other) > maxMixed * Double(all) { return "trace_language_mixing" }
    }
    return nil
  }

  /// Lower-cased words (runs of letters and digits).
  static func words(_ text: String) -> [String] {
    text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
  }

  /// Letters per script group (known scripts only; Han and kana together).
  static func scriptCounts(_ text: String) -> [String: Int] {
    var counts: [String: Int] = [:]
    for scalar in text.unicodeScalars where scalar.properties.isAlphabetic {
      guard let script = ScriptFilter.scripts.first(where: { $0.value.contains { $0.contains(scalar.value) } })?.key
      else { continue }
      counts[script == "hiragana_katakana" ? "han" : script, default: 0] += 1
    }
    return counts
  }

  static func mainScript(_ text: String) -> String? {
    scriptCounts(text).max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("reasoning") { map, node throws(InstillError) in
      let field = try map.string("field", default: "output")
      let minWords = try map.optionalInt("min_words", in: 0...Int.max)
      let maxWords = try map.optionalInt("max_words", in: 0...Int.max)
      if let minWords, let maxWords, minWords > maxWords {
        throw node.error("'min_words' (\(minWords)) is larger than 'max_words' (\(maxWords))")
      }
      return ReasoningFilter(
        name: try map.string("name", default: "reasoning"), field: field,
        require: try map.bool("require", default: false), minWords: minWords, maxWords: maxWords,
        maxRestated: try map.double("max_restated", default: 0.9, in: 0...1),
        maxMixed: try map.double("max_mixed", default: 0.05, in: 0...1))
    }
  }
}

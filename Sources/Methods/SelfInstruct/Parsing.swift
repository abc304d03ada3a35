import Foundation
import InstillCore
import InstillFilters

/// Turning a bootstrap reply into candidate instructions, and the heuristic
/// filters Self-Instruct applies to them, as its bootstrap does.
public enum SelfInstructParsing {
  /// Splits a reply that continues a numbered list ("9." was the last line of
  /// the prompt) into instructions: pieces between `\n<number>.` markers,
  /// whitespace collapsed and trimmed. A chat reply that repeats the number of
  /// its first item ("9. …") is accepted too.
  public static func instructions(fromContinuation text: String, firstNumber: Int, capitalize: Bool) -> [String] {
    var body = text
    // A chat model may restate the item number the prompt ended with.
    if let match = body.firstMatch(of: /^\s*\d+\s?[.)]\s*/) { body = String(body[match.range.upperBound...]) }
    var pieces: [String] = []
    var current = ""
    for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
      if let marker = line.firstMatch(of: /^\d+\s?\.\s/) {
        pieces.append(current)
        current = String(line[marker.range.upperBound...])
      } else {
        current += (current.isEmpty ? "" : "\n") + line
      }
    }
    pieces.append(current)
    return pieces.map { piece in
      let collapsed = Text.collapsingWhitespace(piece)
      return capitalize ? pythonCapitalize(collapsed) : collapsed
    }
  }

  /// An instruction as a prompt shows it: on one line, trailing colons removed
  /// (the originals' `re.sub(r"\s+", " ", …).strip().rstrip(":")`).
  public static func promptLine(_ instruction: String) -> String {
    var line = Text.collapsingWhitespace(instruction)
    while line.hasSuffix(":") { line.removeLast() }
    return line
  }

  /// Python's `str.capitalize()`: first character upper-cased, the rest lower-cased
  /// (the original pipeline's quirk).
  public static func pythonCapitalize(_ s: String) -> String {
    guard let first = s.first else { return s }
    return first.uppercased() + s.dropFirst().lowercased()
  }
}

/// Self-Instruct's heuristics, each a filter with its own counts.
public enum SelfInstructFilters {
  public static let selfInstructKeywords = [
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to",
  ]
  public static let alpacaKeywords = selfInstructKeywords + ["video", "audio", "music", "flowchart", "diagram"]

  /// Drops empty text and text of ≤ `minWords` or > `maxWords` words.
  public struct WordCount: RecordFilter {
    public let name = "word_count"
    public let minWords: Int
    public let maxWords: Int
    public var exampleField: String { "instruction" }
    public func check(_ record: Record) -> String? {
      let n = Text.wordCount(record.instruction)
      if n == 0 { return "empty" }
      if n <= minWords { return "too_few_words" }
      if n > maxWords { return "too_many_words" }
      return nil
    }
  }

  /// The default chain, in the original order.
  public static func chain(minWords: Int, maxWords: Int, keywords: [String]) -> FilterChain {
    FilterChain([
      WordCount(minWords: minWords, maxWords: maxWords),
      KeywordFilter(name: "keywords", fields: ["instruction"], keywords: keywords, wholeWord: true),
      // "Write a program…" (the model tended to append it to other tasks).
      AffixFilter(
        name: "write_a_program", side: .start, field: "instruction", values: ["Write a program"],
        caseSensitive: true),
      // Punctuation (Python's string.punctuation) or a non-ASCII character first.
      FirstCharacterFilter(
        name: "first_character", field: "instruction", punctuation: true, nonASCII: true,
        punctuationSet: .ascii),
    ])
  }
}

/// The heuristics' settings, read from the stage entry: `min_words`,
/// `max_words` and `keywords`.
public struct HeuristicSettings: Sendable {
  public var minWords = 3
  public var maxWords = 150
  public var keywords: [String]

  public init(keywords: [String]) { self.keywords = keywords }

  public mutating func parse(_ params: ConfigMap) throws(InstillError) {
    minWords = try params.int("min_words", default: minWords, in: 0...10_000)
    maxWords = try params.int("max_words", default: maxWords, in: 1...100_000)
    keywords = try params.stringList("keywords") ?? keywords
  }

  /// The heuristics in the original order.
  public var filters: FilterChain {
    SelfInstructFilters.chain(minWords: minWords, maxWords: maxWords, keywords: keywords)
  }
}

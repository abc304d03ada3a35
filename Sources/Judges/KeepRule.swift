import InstillCore

/// A judge's `keep:` (and critique-revise's `stop_when:`): comparisons of a
/// criterion's score, or of `min` / `mean` / `max` over all criteria, with a
/// number, joined by `and` / `or` (`and` binds tighter):
///
///     keep: "overall >= 7"
///     keep: "min >= 3 and helpfulness >= 4"
public struct KeepRule: Sendable, Equatable, CustomStringConvertible {
  public enum Term: Sendable, Equatable {
    case criterion(String)
    case min, mean, max

    /// The term's value over scores by criterion; nil for a missing criterion or no scores.
    public func value(in scores: [String: Double]) -> Double? {
      let values = Array(scores.values)
      switch self {
      case .criterion(let name): return scores[name]
      case .min: return values.min()
      case .max: return values.max()
      case .mean: return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
      }
    }
  }

  public enum Comparison: String, Sendable, CaseIterable {
    case atLeast = ">=", above = ">", atMost = "<=", below = "<", equal = "=="
  }

  public struct Condition: Sendable, Equatable {
    public var term: Term
    public var comparison: Comparison
    public var value: Double
  }

  /// Alternatives (`or`) of conjunctions (`and`).
  public var alternatives: [[Condition]]
  public let description: String

  public static let aggregates = ["min", "mean", "max"]

  /// One condition: `criterion >= value`.
  public init(criterion: String, atLeast value: Double) {
    alternatives = [[Condition(term: .criterion(criterion), comparison: .atLeast, value: value)]]
    description = "\(criterion) >= \(value == value.rounded() ? String(Int(value)) : String(value))"
  }

  /// Parses `text`, checking every criterion name against the rubric; errors name the node's file and line.
  public init(_ node: ConfigNode, rubric: Rubric) throws(InstillError) {
    let text = try node.string()
    description = text
    let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
    var alternatives: [[Condition]] = [[]]
    var i = 0
    func fail(_ why: String) -> InstillError {
      node.error(
        "\(why) in \"\(text)\"; write comparisons such as \"overall >= 4\" or \"min >= 3 and mean >= 4\", "
          + "over the criteria \(rubric.criteria.map(\.name).joined(separator: ", ")) or min, mean, max")
    }
    // Tokens: name, operator, number; operators may be glued ("overall>=4").
    var tokens: [String] = []
    for word in words {
      var rest = Substring(word)
      while !rest.isEmpty {
        if let op = [">=", "<=", "==", ">", "<"].first(where: { rest.hasPrefix($0) }) {
          tokens.append(op)
          rest = rest.dropFirst(op.count)
        } else {
          // A lone "=" (or anything else) is a token of its own, so parsing always moves on.
          var end = rest.firstIndex { "<>=".contains($0) } ?? rest.endIndex
          if end == rest.startIndex { end = rest.index(after: end) }
          tokens.append(String(rest[..<end]))
          rest = rest[end...]
        }
      }
    }
    while i < tokens.count {
      guard i + 2 < tokens.count else {
        throw fail("an incomplete comparison")
      }
      let name = tokens[i].lowercased()
      let term: Term
      switch name {
      case "min": term = .min
      case "mean": term = .mean
      case "max": term = .max
      default:
        guard rubric.criterion(name) != nil else { throw fail("unknown criterion '\(tokens[i])'") }
        term = .criterion(name)
      }
      guard let comparison = Comparison(rawValue: tokens[i + 1]) else {
        throw fail("expected one of >= > <= < == after '\(tokens[i])'")
      }
      guard let value = Double(tokens[i + 2]) else { throw fail("expected a number after '\(tokens[i + 1])'") }
      alternatives[alternatives.count - 1].append(Condition(term: term, comparison: comparison, value: value))
      i += 3
      guard i < tokens.count else { break }
      switch tokens[i].lowercased() {
      case "and": break
      case "or": alternatives.append([])
      default: throw fail("expected 'and' or 'or' after a comparison, found '\(tokens[i])'")
      }
      i += 1
      guard i < tokens.count else { throw fail("nothing after '\(tokens[i - 1])'") }
    }
    guard !(alternatives.first?.isEmpty ?? true) else { throw fail("no comparison") }
    self.alternatives = alternatives
  }

  /// Whether scores (by criterion name) pass.
  public func passes(_ scores: [String: Double]) -> Bool {
    alternatives.contains { conditions in conditions.allSatisfy { holds($0, scores) } }
  }

  func holds(_ condition: Condition, _ scores: [String: Double]) -> Bool {
    let x = condition.term.value(in: scores) ?? -.infinity
    switch condition.comparison {
    case .atLeast: return x >= condition.value
    case .above: return x > condition.value
    case .atMost: return x <= condition.value
    case .below: return x < condition.value
    case .equal: return x == condition.value
    }
  }
}

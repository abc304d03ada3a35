import Foundation
import InstillCore
import InstillFilters
import InstillLLM

/// What a judge rates by: criteria with their scales and level descriptions,
/// rated demonstrations, and the reply format. Rubrics are data, written as
/// YAML (the built-in ones are in `Rubrics/`, in the same format as a user's):
///
///     name: my-rubric
///     intro: Rate the answer on each aspect.      # optional, before the criteria
///     format: score_lines                         # or json
///     criteria:
///       - name: helpfulness                       # the key in meta and in `keep`
///         label: Helpfulness                      # what the reply writes (default: the name)
///         question: How useful is the answer?
///         scale: [1, 5]
///         levels: {1: useless., 5: complete and correct.}
///     demonstrations:                             # optional
///       - {instruction: …, answer: …, reasoning: …, scores: {helpfulness: 4}}
public struct Rubric: Sendable, Equatable {
  public enum Format: String, Sendable, CaseIterable {
    /// Reasoning, then a line `Label: n` per criterion.
    case scoreLines = "score_lines"
    /// One JSON object `{"reasoning": …, "<criterion>": n, …}`, constrained by a
    /// JSON schema sent as `response_format` where the endpoint supports it.
    case json
  }

  public struct Criterion: Sendable, Equatable {
    public var name: String
    public var label: String
    public var question: String
    public var scale: ClosedRange<Int>
    public var levels: [(Int, String)]

    public static func == (a: Criterion, b: Criterion) -> Bool {
      a.name == b.name && a.label == b.label && a.question == b.question && a.scale == b.scale
        && a.levels.map(\.0) == b.levels.map(\.0) && a.levels.map(\.1) == b.levels.map(\.1)
    }
  }

  public struct Demonstration: Sendable, Equatable {
    public var instruction: String
    public var answer: String
    public var reasoning: String
    public var scores: [String: Double]
  }

  public var name: String
  public var intro: String?
  public var format: Format
  public var criteria: [Criterion]
  public var demonstrations: [Demonstration]

  public static let builtinNames = ["overall", "ultrafeedback", "humpback"]

  /// A built-in rubric by name.
  public static func builtin(_ name: String) throws(InstillError) -> Rubric {
    let bytes: [UInt8]
    switch name {
    case "overall": bytes = PackageResources.overall_yaml
    case "ultrafeedback": bytes = PackageResources.ultrafeedback_yaml
    case "humpback": bytes = PackageResources.humpback_yaml
    default:
      throw InstillError.input("no built-in rubric '\(name)' (built in: \(builtinNames.joined(separator: ", ")))")
    }
    return try parse(yaml: PromptText.embedded(bytes), file: "builtin:\(name)")
  }

  /// The rubric a stage's `rubric:` key names: a built-in one or a YAML file
  /// (which joins the stage's fingerprint).
  public static func named(_ node: ConfigNode?, default name: String, context: StageBuildContext)
    throws(InstillError) -> Rubric
  {
    guard let node else { return try builtin(name) }
    let value = try node.string()
    if builtinNames.contains(value) { return try builtin(value) }
    let path = try context.inputFile(node)
    return try parse(yaml: try FileSystem.readString(path, what: "rubric file"), file: path)
  }

  public static func parse(yaml: String, file: String) throws(InstillError) -> Rubric {
    let top = try ConfigNode.parse(yaml: yaml, file: file, what: "rubric file").mapping()
    let name = try top.string("name", default: (file as NSString).lastPathComponent)
    let intro = try top.optionalString("intro")
    let format = try top.choice("format", default: Format.scoreLines)
    let criteriaNode = try top.require("criteria")
    var criteria: [Criterion] = []
    for item in try criteriaNode.list() {
      let criterion = try parseCriterion(item)
      guard !criteria.contains(where: { $0.name == criterion.name }) else {
        throw item.error("two criteria are named '\(criterion.name)'")
      }
      criteria.append(criterion)
    }
    guard !criteria.isEmpty else { throw criteriaNode.error("a rubric needs at least one criterion") }
    var demonstrations: [Demonstration] = []
    for item in try top.list("demonstrations") ?? [] {
      demonstrations.append(try parseDemonstration(item, criteria: criteria))
    }
    try top.finish()
    return Rubric(name: name, intro: intro, format: format, criteria: criteria, demonstrations: demonstrations)
  }

  static func parseCriterion(_ item: ConfigNode) throws(InstillError) -> Criterion {
    let map = try item.mapping()
    let nameNode = try map.require("name")
    let name = try nameNode.string()
    guard name.wholeMatch(of: /[a-z][a-z0-9_]*/) != nil, !KeepRule.aggregates.contains(name) else {
      throw nameNode.error(
        "a criterion name is lower case letters, digits and _ (it is used in `keep` expressions), "
          + "and not min, mean or max; found '\(name)'")
    }
    let label = try map.string("label", default: name)
    let question = try map.string("question")
    let scaleNode = try map.require("scale")
    let bounds = try scaleNode.list()
    guard bounds.count == 2 else { throw scaleNode.error("a scale is [lowest, highest], e.g. [1, 5]") }
    let (low, high) = (try bounds[0].int(), try bounds[1].int())
    guard low < high, low >= 0, high <= 100 else {
      throw scaleNode.error(
        "a scale goes from a lower to a higher whole number between 0 and 100, found [\(low), \(high)]")
    }
    let levelsMap = try map.require("levels").mapping()
    var levels: [(Int, String)] = []
    for key in levelsMap.keys {
      let node = try levelsMap.require(key)
      guard let level = Int(key), (low...high).contains(level) else {
        throw node.error("level '\(key)' is not a whole number on the scale \(low) to \(high)")
      }
      levels.append((level, try node.string()))
    }
    guard !levels.isEmpty else { throw map.owner.error("a criterion needs at least one level description") }
    levels.sort { $0.0 < $1.0 }
    try map.finish()
    return Criterion(name: name, label: label, question: question, scale: low...high, levels: levels)
  }

  static func parseDemonstration(_ item: ConfigNode, criteria: [Criterion]) throws(InstillError) -> Demonstration {
    let map = try item.mapping()
    let scoresNode = try map.require("scores")
    let scoresMap = try scoresNode.mapping()
    var scores: [String: Double] = [:]
    for criterion in criteria {
      guard let node = scoresMap.node(criterion.name) else {
        throw scoresNode.error("the demonstration has no score for criterion '\(criterion.name)'")
      }
      let value = try node.double()
      guard criterion.scale.contains(Int(value.rounded(.down))), value <= Double(criterion.scale.upperBound) else {
        throw node.error(
          "\(Text.number(value)) is off the scale \(criterion.scale.lowerBound) to \(criterion.scale.upperBound)")
      }
      scores[criterion.name] = value
    }
    try scoresMap.finish()
    let demonstration = Demonstration(
      instruction: try map.string("instruction"), answer: try map.string("answer"),
      reasoning: try map.string("reasoning"), scores: scores)
    try map.finish()
    return demonstration
  }
}

extension Rubric {
  /// The criteria by name.
  public func criterion(_ name: String) -> Criterion? { criteria.first { $0.name == name } }

  /// The instructions of a rating prompt: what to rate, every level, and the reply format.
  public var instructions: String {
    var parts: [String] = []
    if let intro { parts.append(intro) }
    for criterion in criteria {
      let lead = criteria.count == 1 ? "" : "\(criterion.label): "
      var text =
        "\(lead)\(criterion.question), on a scale of \(criterion.scale.lowerBound) to \(criterion.scale.upperBound):"
      for (level, description) in criterion.levels { text += "\n\(level): \(description)" }
      parts.append(text)
    }
    let body = parts.joined(separator: criteria.count == 1 ? "\n" : "\n\n")
    return body + (criteria.count == 1 ? "\n" : "\n\n") + replyInstructions
  }

  var replyInstructions: String {
    switch format {
    case .scoreLines where criteria.count == 1:
      return
        "First give your reasoning in a few sentences, then write the score on the last line as \"\(criteria[0].label): n\"."
    case .scoreLines:
      return "First give your reasoning in a few sentences, then write one line per aspect, in this order:\n"
        + criteria.map { "\($0.label): n" }.joined(separator: "\n")
    case .json:
      return "Reply with one JSON object and nothing else: {\"reasoning\": \"a few sentences\", "
        + criteria.map { "\"\($0.name)\": n" }.joined(separator: ", ") + "}."
    }
  }

  /// How a rating is written: the reasoning, then the scores in the reply format.
  public func rating(reasoning: String, scores: [String: Double]) -> String {
    switch format {
    case .scoreLines:
      return reasoning + "\n"
        + criteria.map { "\($0.label): \(Text.number(scores[$0.name] ?? 0))" }.joined(separator: "\n")
    case .json:
      var object: JSONObject = ["reasoning": .string(reasoning)]
      for criterion in criteria { object[criterion.name] = Self.value(scores[criterion.name] ?? 0) }
      return JSONWriter.string(.object(object))
    }
  }

  /// A score as JSON: whole numbers as integers.
  public static func value(_ score: Double) -> JSONValue {
    score == score.rounded() && abs(score) < 1e15 ? .int(Int(score)) : .double(score)
  }

  /// The JSON schema of a rating, for `response_format` (format `json`).
  public var schema: JSONValue {
    var properties: JSONObject = ["reasoning": .object(["type": .string("string")])]
    for criterion in criteria {
      properties[criterion.name] = .object([
        "type": .string("integer"), "minimum": .int(criterion.scale.lowerBound),
        "maximum": .int(criterion.scale.upperBound),
      ])
    }
    return .object([
      "type": .string("object"), "properties": .object(properties),
      "required": .array([.string("reasoning")] + criteria.map { .string($0.name) }),
      "additionalProperties": .bool(false),
    ])
  }

  /// The request fields that constrain a reply to the schema (OpenAI's
  /// `response_format`, which llama-server and vLLM also accept).
  public var responseFormat: JSONObject {
    guard format == .json else { return [:] }
    return [
      "response_format": .object([
        "type": .string("json_schema"),
        "json_schema": .object(["name": .string("rating"), "strict": .bool(true), "schema": schema]),
      ])
    ]
  }

  /// The scores and reasoning of a reply, or nil when a criterion's score is missing or off its scale.
  public func parse(_ reply: String) -> (scores: [String: Double], reasoning: String)? {
    switch format {
    case .scoreLines: return parseScoreLines(reply)
    case .json: return parseJSON(reply) ?? parseScoreLines(reply)
    }
  }

  func parseScoreLines(_ reply: String) -> (scores: [String: Double], reasoning: String)? {
    var scores: [String: Double] = [:]
    var firstScore = reply.endIndex
    for criterion in criteria {
      let label = NSRegularExpression.escapedPattern(for: criterion.label)
      guard let regex = try? Regex("(?i)\(label)\\W{0,4}\\s*([0-9]+(?:\\.[0-9]+)?)(?![0-9])") else { return nil }
      let matches = reply.matches(of: regex)
      guard
        let match = matches.last(where: { m in
          guard let text = m.output[1].substring, let n = Double(text) else { return false }
          return Double(criterion.scale.lowerBound) <= n && n <= Double(criterion.scale.upperBound)
        }), let text = match.output[1].substring, let n = Double(text)
      else { return nil }
      scores[criterion.name] = n
      firstScore = min(firstScore, match.range.lowerBound)
    }
    // Markdown around the score lines ("**Score:** 4") is not part of the reasoning.
    let reasoning = reply[..<firstScore].trimmingCharacters(
      in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "*_#")))
    return (scores, reasoning)
  }

  func parseJSON(_ reply: String) -> (scores: [String: Double], reasoning: String)? {
    guard let open = reply.firstIndex(of: "{"), let close = reply.lastIndex(of: "}"), open < close,
      case .object(let object)? = try? JSONParser.parse(Array(reply[open...close].utf8))
    else { return nil }
    var scores: [String: Double] = [:]
    for criterion in criteria {
      guard let n = object[criterion.name]?.doubleValue,
        Double(criterion.scale.lowerBound) <= n, n <= Double(criterion.scale.upperBound)
      else { return nil }
      scores[criterion.name] = n
    }
    return (scores, object["reasoning"]?.stringValue ?? "")
  }
}

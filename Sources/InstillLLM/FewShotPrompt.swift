/// A prompt as a value: instructions, demonstrations (a query and the answer
/// wanted), then the query to answer. It renders to chat turns (system message,
/// each demonstration as a user turn answered by the assistant, the query) or
/// to one text for completion endpoints, laid out by `CompletionLayout`. A
/// method writes the prompt once; the stage's `endpoint` picks the rendering.
///
/// The instructions and demonstrations come first and do not depend on the
/// query, so a server that caches prompt prefixes reuses them across requests.
public struct FewShotPrompt: Sendable, Hashable {
  public struct Shot: Sendable, Hashable {
    public var query: String
    public var answer: String
    public init(_ query: String, _ answer: String) {
      self.query = query
      self.answer = answer
    }
  }

  public var system: String?
  public var shots: [Shot]
  public var query: String
  public var layout: CompletionLayout

  public init(system: String? = nil, shots: [Shot] = [], query: String, layout: CompletionLayout = .plain) {
    self.system = system
    self.shots = shots
    self.query = query
    self.layout = layout
  }

  /// The query alone, as one user message (or the bare text for completion).
  public static func single(_ query: String) -> FewShotPrompt { FewShotPrompt(query: query) }

  /// The chat form.
  public var messages: [ChatMessage] {
    var messages = system.map { [ChatMessage.system($0)] } ?? []
    for shot in shots {
      messages.append(.user(shot.query))
      messages.append(.assistant(shot.answer))
    }
    messages.append(.user(query))
    return messages
  }

  /// The completion form: the instructions, a blank line, each demonstration as
  /// query, answer lead and answer followed by a blank line, then the query and
  /// the prompt end for the model to continue.
  public var text: String {
    var text = system.map { $0 + "\n\n" } ?? ""
    if let label = layout.numbered {
      for (i, shot) in shots.enumerated() { text += "\(label) \(i + 1)\n" + shot.answer + "\n\n" }
      return text + "\(label) \(shots.count + 1)\n"
    }
    for shot in shots {
      text += layout.queryLabel + shot.query + layout.answerLead + shot.answer + "\n\n"
    }
    return text + layout.queryLabel + query + layout.promptEnd
  }
}

/// How a few-shot prompt reads as one text: what precedes every query, what
/// joins a demonstration's query to its answer, and what follows the final
/// query (the model writes the answer after it).
public struct CompletionLayout: Sendable, Hashable {
  public var queryLabel: String
  public var answerLead: String
  public var promptEnd: String
  /// When set, the text shows the demonstrations' answers alone as numbered
  /// examples (`Example 1`, …) and ends with the next number's line.
  public var numbered: String?

  public init(queryLabel: String = "", answerLead: String, promptEnd: String, numbered: String? = nil) {
    self.queryLabel = queryLabel
    self.answerLead = answerLead
    self.promptEnd = promptEnd
    self.numbered = numbered
  }

  /// Answers on the line after their query; the prompt ends with that line break.
  public static let plain = CompletionLayout(answerLead: "\n", promptEnd: "")

  /// `label` introduces every answer (`Answer: Equal`), `separator` after the
  /// query; the prompt ends with the label for the model to continue.
  public static func labelled(_ label: String, separator: String = "\n", queryLabel: String = "") -> CompletionLayout {
    CompletionLayout(queryLabel: queryLabel, answerLead: separator + label + " ", promptEnd: separator + label)
  }

  /// The demonstrations' answers as `label 1`, `label 2`, …, then `label N+1` to continue.
  public static func numbered(_ label: String) -> CompletionLayout {
    CompletionLayout(answerLead: "\n", promptEnd: "", numbered: label)
  }
}

import InstillCore
import InstillFilters
import InstillLLM

/// The prompts of `reverse_instruct`. The shared part (what to write, and in
/// backtranslation the demonstrations) comes first and is the same for every
/// document, so the server reuses its cached prefix; the document comes last.
public enum ReversePrompts {
  /// LongForm's three ways of asking for the instruction a text answers.
  public enum Style: String, Sendable, CaseIterable {
    case instruction, chatbot, query

    /// What the model is asked to do (system message).
    var task: String {
      switch self {
      case .instruction:
        "Below is a text that was written as the output for an instruction. Write the instruction it answers: "
          + "one request or question a person could have given, in a sentence or two. "
          + "Do not copy the text and do not answer anything. Reply with the instruction only."
      case .chatbot:
        "You are a chatbot. Below is a reply you gave to a user. Write the user's message that this reply answers, "
          + "short and informal, the way people type to a chatbot. Reply with the user's message only."
      case .query:
        "Below is the document a search engine returned as the best result for a detailed query. "
          + "Write that query, as a person would type it into the search box. Reply with the query only."
      }
    }

    /// The label of the document slot and of the wanted answer.
    var labels: (document: String, answer: String) {
      switch self {
      case .instruction: ("Output", "Instruction")
      case .chatbot: ("Reply", "Message")
      case .query: ("Document", "Query")
      }
    }

    func user(_ document: String) -> String {
      "\(labels.document):\n\(document)\n\n\(labels.answer):"
    }
  }

  static let backtranslateTask =
    "Each message below is a response written by a helpful AI assistant. "
    + "Write the instruction a user gave to get that response. Reply with the instruction only."

  static func backtranslateUser(_ output: String) -> String { "Response:\n\(output)\n\nInstruction:" }

  /// Backtranslation's prompt: the task, then each demonstration shown
  /// response-first with its instruction as the answer, then the document.
  static func backtranslate(_ demonstrations: [(instruction: String, output: String)], _ document: String)
    -> FewShotPrompt
  {
    FewShotPrompt(
      system: backtranslateTask, shots: demonstrations.map { .init(backtranslateUser($0.output), $0.instruction) },
      query: backtranslateUser(document), layout: CompletionLayout(answerLead: " ", promptEnd: ""))
  }

  /// "Respond in N sentences." with N counted from the document.
  static func lengthHint(for document: String) -> (hint: String, sentences: Int) {
    let n = sentenceCount(document)
    return (n == 1 ? "Respond in 1 sentence." : "Respond in \(n) sentences.", n)
  }

  /// Sentence ends: `.`, `!`, `?` followed by white space or the end (and the
  /// CJK full stops), at least 1.
  public static func sentenceCount(_ text: String) -> Int {
    var count = 0
    let scalars = Array(text.unicodeScalars)
    for (i, s) in scalars.enumerated() {
      switch s {
      case "。", "！", "？":
        count += 1
      case ".", "!", "?":
        // A terminator followed by white space or the end; "e.g." and "3.5" are not ends.
        let atEnd = i + 1 == scalars.count || scalars[i + 1].properties.isWhitespace
        if atEnd && !(s == "." && i >= 2 && scalars[i - 2] == ".") { count += 1 }
      default:
        break
      }
    }
    return max(1, count)
  }

  /// The text up to its last sentence end (`.`, `!`, `?` before white space or
  /// the end, a CJK full stop), or nil when it has no complete sentence.
  public static func completeSentences(_ text: String) -> String? {
    let scalars = Array(text.unicodeScalars)
    var end: Int?
    for (i, s) in scalars.enumerated() {
      switch s {
      case "。", "！", "？": end = i + 1
      case ".", "!", "?":
        if i + 1 == scalars.count || scalars[i + 1].properties.isWhitespace { end = i + 1 }
      default: break
      }
    }
    guard let end else { return nil }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars[..<end])
    let out = Text.trimmed(String(view))
    return out.isEmpty ? nil : out
  }

  /// The instruction in a reply: labels, quotes and emphasis removed, the first paragraph only.
  public static func clean(_ reply: String, style: Style?) -> String {
    var text = Text.trimmed(reply)
    let labels = ["instruction", "message", "query", "user", "user's message", "question", "search query", "request"]
    var changed = true
    while changed {
      changed = false
      text = text.trimmingCharacters(in: "*_#`> ")
      for label in labels {
        let lower = text.lowercased()
        for suffix in [":", " :"] where lower.hasPrefix(label + suffix) {
          text = Text.trimmed(String(text.dropFirst(label.count + suffix.count)))
          changed = true
        }
      }
    }
    if let blank = text.range(of: "\n\n") { text = String(text[..<blank.lowerBound]) }
    text = Text.trimmed(text)
    for (open, close) in [("\"", "\""), ("“", "”"), ("'", "'")]
    where text.count > 2 && text.hasPrefix(open) && text.hasSuffix(close) {
      text = Text.trimmed(String(text.dropFirst().dropLast()))
    }
    return text
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    var s = Substring(self)
    while let first = s.first, set.contains(first) { s.removeFirst() }
    while let last = s.last, set.contains(last) { s.removeLast() }
    return String(s)
  }
}

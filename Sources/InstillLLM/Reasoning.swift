import InstillCore

/// Whether a thinking model's trace reaches the records (`reasoning: drop | keep`
/// on `llm`, an endpoint or a stage). Either way stages see only the answer.
public enum ReasoningMode: String, Sendable, CaseIterable {
  case drop, keep
}

/// How a model marks its thinking inline, in the text of a reply: an opening and
/// a closing marker. Servers with a reasoning parser send the trace apart
/// (`reasoning_content`, `reasoning`); without one it stays in the text.
public struct ReasoningTags: Sendable, Hashable {
  public var open: String
  public var close: String

  public init(open: String, close: String) {
    self.open = open
    self.close = close
  }

  /// `<think>…</think>`: Qwen3, QwQ, DeepSeek-R1 and its distillations.
  public static let think = ReasoningTags(open: "<think>", close: "</think>")
  /// gpt-oss's harmony channels in raw completions: the analysis channel, then the final one.
  public static let harmony = ReasoningTags(
    open: "<|channel|>analysis<|message|>", close: "<|end|><|start|>assistant<|channel|>final<|message|>")
  /// Magistral's markers.
  public static let magistral = ReasoningTags(open: "[THINK]", close: "[/THINK]")

  /// The presets `reasoning_tags:` accepts by name; `none` turns inline splitting off.
  public static let presets: [String: ReasoningTags?] = [
    "think": think, "harmony": harmony, "magistral": magistral, "none": nil,
  ]

  /// Reads `reasoning_tags: NAME` or `reasoning_tags: [OPEN, CLOSE]`; `.some(nil)` is `none`.
  public static func parse(_ node: ConfigNode) throws(InstillError) -> ReasoningTags? {
    if case .scalar = node.node {
      let name = try node.string()
      guard let preset = presets[name] else {
        throw node.error(
          "unknown reasoning_tags '\(name)' (known: \(presets.keys.sorted().joined(separator: ", ")), "
            + "or a list [OPEN, CLOSE])")
      }
      return preset
    }
    let list = try node.list()
    guard list.count == 2 else { throw node.error("reasoning_tags is a name or a list of two markers [OPEN, CLOSE]") }
    let open = try list[0].string()
    let close = try list[1].string()
    guard !open.isEmpty, !close.isEmpty, open != close else {
      throw node.error("the two reasoning_tags markers are non-empty and differ")
    }
    return ReasoningTags(open: open, close: close)
  }
}

/// An endpoint's thinking settings: `reasoning` (drop or keep the trace, the
/// default of stages that say nothing) and `reasoning_tags` (how its model marks
/// thinking inline; `think` unless set).
public struct ReasoningSettings: Sendable, Hashable {
  public var mode = ReasoningMode.drop
  public var tags: ReasoningTags? = .think

  public init(mode: ReasoningMode = .drop, tags: ReasoningTags? = .think) {
    self.mode = mode
    self.tags = tags
  }

  /// Reads `reasoning` and `reasoning_tags` from an `llm` section or an endpoint.
  public static func parse(_ map: ConfigMap) throws(InstillError) -> ReasoningSettings {
    var s = ReasoningSettings()
    s.mode = try map.choice("reasoning", default: .drop)
    if let node = map.node("reasoning_tags") { s.tags = try ReasoningTags.parse(node) }
    return s
  }
}

/// One reply's text split into the trace and the answer.
public struct ReasoningSplit: Sendable, Equatable {
  /// The thinking: the server's separate field, then any inline block; nil when the reply did not think.
  public var reasoning: String?
  /// What the stages see.
  public var answer: String
  /// The thinking never closed (cut at the length limit, or an answer-less reply): no answer at all.
  public var unclosed: Bool

  public init(reasoning: String?, answer: String, unclosed: Bool = false) {
    self.reasoning = reasoning
    self.answer = answer
    self.unclosed = unclosed
  }

  /// Splits a reply: `field` is what the server sent apart (`reasoning_content`
  /// or `reasoning`), `text` the content, `tags` the inline markers (nil: none).
  ///
  /// Inline, a reply thinks when its text opens with the opening marker (after
  /// white space), or holds the closing marker with no opening one before it
  /// (templates that open the block in the prompt, as Qwen3's and R1's do). The
  /// answer is what follows the closing marker, without its leading white space.
  /// An opened block that never closes, or a trace with an empty answer cut at
  /// the length limit, is `unclosed`.
  public static func split(text: String, field: String?, tags: ReasoningTags?, truncated: Bool) -> ReasoningSplit {
    var traces: [String] = []
    if let field, !field.allSatisfy(\.isWhitespace) { traces.append(trimmed(field)) }
    var answer = text
    var unclosed = false
    if let tags {
      let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
      let rest = text[start...]
      if rest.hasPrefix(tags.open) {
        let inside = rest.dropFirst(tags.open.count)
        if let close = inside.range(of: tags.close) {
          traces.append(trimmed(inside[..<close.lowerBound]))
          answer = leadingTrimmed(inside[close.upperBound...])
        } else {
          traces.append(trimmed(inside))
          answer = ""
          unclosed = true
        }
      } else if let close = text.range(of: tags.close), text[..<close.lowerBound].range(of: tags.open) == nil {
        traces.append(trimmed(text[..<close.lowerBound]))
        answer = leadingTrimmed(text[close.upperBound...])
      }
    }
    let trace = traces.filter { !$0.isEmpty }.joined(separator: "\n\n")
    if !trace.isEmpty, truncated, answer.allSatisfy(\.isWhitespace) { unclosed = true }
    return ReasoningSplit(reasoning: trace.isEmpty ? nil : trace, answer: answer, unclosed: unclosed)
  }

  static func trimmed(_ s: Substring) -> String { String(s).trimmingCharacters(in: .whitespacesAndNewlines) }
  static func trimmed(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines) }
  static func leadingTrimmed(_ s: Substring) -> String { String(s.drop { $0.isWhitespace }) }
}

extension LLMResponse {
  /// The reply as stages see it: each choice's thinking moved out of its text
  /// into `reasoning`; choices whose thinking never closed are left out. Nil
  /// when no choice is left (the whole reply was thinking). `unclosed` counts
  /// the choices left out.
  public func splittingReasoning(tags: ReasoningTags?) -> (response: LLMResponse?, unclosed: Int) {
    guard embedding == nil else { return (self, 0) }
    var out = self
    out.choices = []
    var unclosed = 0
    for choice in choices {
      let split = ReasoningSplit.split(
        text: choice.text, field: choice.reasoning, tags: tags, truncated: choice.truncated)
      if split.unclosed {
        unclosed += 1
        continue
      }
      var c = choice
      c.text = split.answer
      c.reasoning = split.reasoning
      out.choices.append(c)
    }
    if out.choices.isEmpty && !choices.isEmpty { return (nil, unclosed) }
    return (out, unclosed)
  }
}

extension LLMFailure {
  /// A reply that thought until its length limit and never answered.
  public static let reasoningTruncatedKind = "reasoning_truncated"
}

import InstillCore
import InstillLLM

/// How a chat template lays out a conversation as text, in the pieces Magpie
/// needs: what comes before the first user message (with and without a system
/// prompt), what closes a user turn and opens the assistant's, what closes the
/// assistant's turn and opens the next user's, and the end-of-turn marker at
/// which a generated user turn stops.
public struct ChatLayout: Sendable, Equatable {
  public var name: String
  /// Up to where the first user message begins, with `{system}` for the system prompt.
  public var withSystem: String
  /// The same when there is no system prompt (a template may put a default one here).
  public var withoutSystem: String
  /// After a user message, up to the assistant's text.
  public var userEnd: String
  /// After an assistant message, up to the next user's text.
  public var assistantEnd: String
  /// What closes a user turn: the stop string of the pre-query request.
  public var endOfTurn: String

  public static let systemSlot = "{system}"

  /// The pre-query text: the conversation so far (system prompt, then each
  /// user turn and its answer) and the opening of the next user turn.
  public func preQuery(system: String?, turns: [(user: String, assistant: String)] = []) -> String {
    var text =
      system.map { withSystem.replacingOccurrences(of: Self.systemSlot, with: $0) } ?? withoutSystem
    for turn in turns { text += turn.user + userEnd + turn.assistant + assistantEnd }
    return text
  }

  /// The system prompt a first pre-query was built with (nil when it has none).
  public func system(in preQuery: String) -> String? {
    guard let slot = withSystem.range(of: Self.systemSlot) else { return nil }
    let head = withSystem[..<slot.lowerBound]
    let tail = withSystem[slot.upperBound...]
    guard preQuery != withoutSystem, preQuery.hasPrefix(head), preQuery.hasSuffix(tail),
      preQuery.count >= head.count + tail.count
    else { return nil }
    return String(preQuery.dropFirst(head.count).dropLast(tail.count))
  }

  /// The built-in layouts, by the name `template:` takes.
  public static let builtins: [String: ChatLayout] = [
    "chatml": ChatLayout(
      name: "chatml", withSystem: "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n",
      withoutSystem: "<|im_start|>user\n", userEnd: "<|im_end|>\n<|im_start|>assistant\n",
      assistantEnd: "<|im_end|>\n<|im_start|>user\n", endOfTurn: "<|im_end|>"),
    "llama3": ChatLayout(
      name: "llama3",
      withSystem:
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>"
        + "<|start_header_id|>user<|end_header_id|>\n\n",
      withoutSystem: "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
      userEnd: "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
      assistantEnd: "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n", endOfTurn: "<|eot_id|>"),
    // Gemma has no system role: its templates put the system prompt at the start of the first user turn.
    "gemma": ChatLayout(
      name: "gemma", withSystem: "<bos><start_of_turn>user\n{system}\n\n", withoutSystem: "<bos><start_of_turn>user\n",
      userEnd: "<end_of_turn>\n<start_of_turn>model\n", assistantEnd: "<end_of_turn>\n<start_of_turn>user\n",
      endOfTurn: "<end_of_turn>"),
    // Mistral's instruct format: the system prompt leads the first [INST] block.
    "mistral": ChatLayout(
      name: "mistral", withSystem: "<s>[INST] {system}\n\n", withoutSystem: "<s>[INST] ", userEnd: " [/INST]",
      assistantEnd: "</s>[INST] ", endOfTurn: "[/INST]"),
    "phi3": ChatLayout(
      name: "phi3", withSystem: "<|system|>\n{system}<|end|>\n<|user|>\n", withoutSystem: "<|user|>\n",
      userEnd: "<|end|>\n<|assistant|>\n", assistantEnd: "<|end|>\n<|user|>\n", endOfTurn: "<|end|>"),
  ]

  /// Markers sent through the server's template to find the pieces.
  static let markers = (
    system: "SYSTEMq7Zx", user1: "USERONEq7Zx", assistant: "ASSISTANTq7Zx", user2: "USERTWOq7Zx"
  )

  /// The served model's layout, read by rendering two marked conversations
  /// through the server's own chat template (`template: auto`).
  public static func served(by backend: any LLMBackend) async throws -> ChatLayout? {
    let m = markers
    let turns: [ChatMessage] = [.user(m.user1), .assistant(m.assistant), .user(m.user2)]
    guard let withSystem = try await backend.applyChatTemplate([.system(m.system)] + turns),
      let withoutSystem = try await backend.applyChatTemplate(turns)
    else { return nil }
    return fromRendered(withSystem: withSystem, withoutSystem: withoutSystem)
  }

  /// The layout in two rendered conversations (system, user, assistant, user;
  /// and the same without the system message); nil when the markers are not
  /// found in order.
  public static func fromRendered(withSystem: String, withoutSystem: String) -> ChatLayout? {
    let m = markers
    guard let u1 = withSystem.range(of: m.user1), let a = withSystem.range(of: m.assistant),
      let u2 = withSystem.range(of: m.user2), u1.upperBound <= a.lowerBound, a.upperBound <= u2.lowerBound,
      let bareU1 = withoutSystem.range(of: m.user1)
    else { return nil }
    let head = String(withSystem[..<u1.lowerBound])
    guard head.contains(m.system) else { return nil }
    let after = withSystem[u2.upperBound...]
    guard let endOfTurn = endOfTurn(after) else { return nil }
    return ChatLayout(
      name: "auto", withSystem: head.replacingOccurrences(of: m.system, with: systemSlot),
      withoutSystem: String(withoutSystem[..<bareU1.lowerBound]),
      userEnd: String(withSystem[u1.upperBound..<a.lowerBound]),
      assistantEnd: String(withSystem[a.upperBound..<u2.lowerBound]), endOfTurn: endOfTurn)
  }

  /// The end-of-turn marker at the start of what follows a user message: a tag
  /// (`<|im_end|>`, `<end_of_turn>`, `[/INST]`), else the text up to the line end.
  static func endOfTurn(_ text: Substring) -> String? {
    let trimmed = text.drop { $0 == " " }
    guard let first = trimmed.first else { return nil }
    let close: Character? = first == "<" ? ">" : first == "[" ? "]" : nil
    if let close, let end = trimmed.firstIndex(of: close) {
      return String(trimmed[...end])
    }
    let line = trimmed.prefix { $0 != "\n" }
    return line.isEmpty ? nil : String(line)
  }
}

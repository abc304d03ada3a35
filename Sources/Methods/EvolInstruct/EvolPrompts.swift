import InstillCore
import InstillLLM

/// The judge's question (our wording of the paper's equality check) and the
/// splitting of an evolved prompt back into instruction and input.
public enum EvolPrompts {
  static let judgeRubric = """
    You compare two prompts. They are equal when they ask for the same things under the same constraints \
    and requirements, and with the same depth and breadth of inquiry; otherwise they are not equal. \
    Answer with "Equal" or "Not Equal" only, and give no reasons.
    """

  /// Our demonstrations: (first prompt, second prompt, equal?).
  static let judgeDemonstrations: [(String, String, Bool)] = [
    ("Name three fruits.", "Name three fruits that grow only in tropical climates.", false),
    ("Write a poem about the sea.", "Compose a poem about the ocean.", true),
    (
      "Explain photosynthesis.", "Explain photosynthesis step by step, and name the pigments that take part in it.",
      false
    ),
    ("List the planets of the solar system.", "Give a list of the solar system's planets.", true),
  ]

  static func pair(_ first: String, _ second: String) -> String {
    "First prompt:\n\(first)\n\nSecond prompt:\n\(second)"
  }

  /// The judge's prompt: the rubric, the demonstrations answered `Equal` or
  /// `Not Equal`, then the pair to judge (`Answer:` before each answer as text).
  public static func judge(first: String, second: String) -> FewShotPrompt {
    FewShotPrompt(
      system: judgeRubric,
      shots: judgeDemonstrations.map { .init(pair($0.0, $0.1), $0.2 ? "Equal" : "Not Equal") },
      query: pair(first, second), layout: .labelled("Answer:"))
  }

  /// The text an operation evolves: the instruction, then its input if any.
  public static func evolvable(instruction: String, input: String) -> String {
    let i = instruction.trimmingCharacters(in: .whitespacesAndNewlines)
    let x = input.trimmingCharacters(in: .whitespacesAndNewlines)
    return x.isEmpty ? i : i + "\n\n" + x
  }

  /// An evolved prompt as instruction and input: the root's input is split off
  /// again when the evolved prompt kept it word for word.
  public static func split(_ evolved: String, rootInput: String) -> (instruction: String, input: String) {
    let x = rootInput.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !x.isEmpty, let range = evolved.range(of: x) else { return (evolved, "") }
    var rest = evolved
    rest.removeSubrange(range)
    let instruction = rest.trimmingCharacters(in: .whitespacesAndNewlines)
    return instruction.isEmpty ? (evolved, "") : (instruction, x)
  }
}

import InstillCore

/// Reading Unnatural Instructions replies: the fourth example of a core prompt,
/// and a paraphrase of an instruction.
public enum UnnaturalParsing {
  public static let fields = ["Instruction", "Input", "Constraints"]

  /// The fields of a generated example, in any order, or the first field that is
  /// missing or empty. The reply continues after `Example 4`; anything from
  /// `Example 5` on is cut off (a continuation that ran on).
  public static func example(_ reply: String) -> Result<
    (instruction: String, input: String, constraints: String), MissingField
  > {
    var text = reply
    if let range = text.range(of: "Example 5") { text = String(text[..<range.lowerBound]) }
    var values: [String: String] = [:]
    var current: String?
    var buffer: [Substring] = []
    func close() {
      if let current, values[current] == nil {
        values[current] = buffer.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
      }
      buffer = []
    }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let trimmed = line.drop { $0 == " " || $0 == "\t" }
      // Labels in any case, "Instructions:" too.
      let lowered = trimmed.lowercased()
      if let field = fields.first(where: {
        lowered.hasPrefix($0.lowercased() + ":") || lowered.hasPrefix($0.lowercased() + "s:")
      }) {
        close()
        current = field
        buffer = [trimmed.drop { $0 != ":" }.dropFirst()]
      } else if current != nil {
        buffer.append(line)
      }
    }
    close()
    for field in fields where (values[field] ?? "").isEmpty {
      return .failure(MissingField(name: field.lowercased()))
    }
    return .success((values["Instruction"] ?? "", values["Input"] ?? "", values["Constraints"] ?? ""))
  }

  public struct MissingField: Error, Equatable { public let name: String }

  public static let placeholder = "{INPUT}"

  /// A paraphrase reply: its first non-empty paragraph, a leading label removed.
  public static func paraphrase(_ reply: String) -> String {
    let paragraph =
      reply.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
      .first { !$0.isEmpty } ?? ""
    for label in ["Rephrased:", "Paraphrase:", "Alternative:"] where paragraph.hasPrefix(label) {
      return paragraph.dropFirst(label.count).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    return paragraph
  }

  /// How often the exact placeholder `{INPUT}` occurs.
  public static func placeholderCount(_ text: String) -> Int {
    text.components(separatedBy: placeholder).count - 1
  }
}

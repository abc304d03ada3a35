/// The opening of an instruction: its first three words, lower-cased, without
/// punctuation ("Can you help me…" → "can you help"). Generated instructions
/// collapse onto a few openings; the `opening` cap and the diversity measure
/// count them.
public enum Openings {
  public static let words = 3

  public static func opening(_ text: String) -> String {
    var out: [String] = []
    for word in text.split(whereSeparator: { $0.isWhitespace }) {
      let cleaned = String(word.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "'" })
      if cleaned.isEmpty { continue }
      out.append(cleaned)
      if out.count == words { break }
    }
    return out.joined(separator: " ")
  }
}

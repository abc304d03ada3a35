import InstillCore

/// `refusal`: drops records whose field contains a refusal or an
/// AI-disclaimer phrase (case-insensitive, curly apostrophes read as straight
/// ones). The list is ours (`RefusalFilter.phrases`); `phrases` adds to it,
/// `replace: true` uses only the given ones. The reason names the phrase.
public struct RefusalFilter: RecordFilter {
  public static let phrases = [
    "as an ai", "as a language model", "as an artificial intelligence", "i'm an ai", "i am an ai",
    "i'm just an ai", "i am just an ai", "i'm sorry, but", "i am sorry, but", "i apologize, but", "i'm sorry, i",
    "i cannot fulfill", "i can't fulfill", "i cannot help with", "i can't help with", "i cannot assist",
    "i can't assist", "i'm not able to", "i am not able to", "i'm unable to", "i am unable to",
    "i cannot provide", "i can't provide", "i do not have personal", "i don't have personal",
    "i don't have the ability", "i do not have the ability", "my knowledge cutoff", "my training data",
    "it is not appropriate for me", "it's not appropriate for me", "against my programming",
    "i must decline", "i won't be able to", "openai",
  ]

  public let name: String
  public let fields: [String]
  public let list: [String]

  public var exampleField: String { fields.first ?? "output" }

  public func check(_ record: Record) -> String? {
    for field in fields {
      guard let text = record.string(field), !text.isEmpty else { continue }
      let folded = text.lowercased().replacingOccurrences(of: "\u{2019}", with: "'")
      if let phrase = list.first(where: { folded.contains($0) }) { return "refusal:\(phrase)" }
    }
    return nil
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("refusal") { map, _ throws(InstillError) in
      let extra = (try map.stringList("phrases") ?? []).map { $0.lowercased() }
      let replace = try map.bool("replace", default: false)
      var fields = [try map.string("field", default: "output")]
      if let list = try map.stringList("fields") { fields = list }
      return RefusalFilter(
        name: try map.string("name", default: "refusal"), fields: fields,
        list: replace ? extra : phrases + extra)
    }
  }
}

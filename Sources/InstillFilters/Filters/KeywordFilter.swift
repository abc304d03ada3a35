import InstillCore

/// Drops records whose fields contain a listed keyword, case-insensitively, as
/// a whole word (default) or anywhere. The reason names the keyword found.
public struct KeywordFilter: RecordFilter {
  public let name: String
  public let fields: [String]
  public let keywords: [String]
  public let wholeWord: Bool
  private let lowered: [[Unicode.Scalar]]

  public init(name: String, fields: [String], keywords: [String], wholeWord: Bool) {
    self.name = name
    self.fields = fields
    self.keywords = keywords
    self.wholeWord = wholeWord
    self.lowered = keywords.map { Array($0.lowercased().unicodeScalars) }
  }

  public var exampleField: String { fields.first ?? "instruction" }

  public func check(_ record: Record) -> String? {
    for field in fields {
      guard let text = record.string(field), !text.isEmpty else { continue }
      let scalars = Array(text.lowercased().unicodeScalars)
      for (i, keyword) in lowered.enumerated() where contains(scalars, keyword) {
        return "keyword:\(keywords[i])"
      }
    }
    return nil
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("keywords") { map, node throws(InstillError) in
      var fields = [try map.string("field", default: "instruction")]
      if let list = try map.stringList("fields") { fields = list }
      guard let words = try map.stringList("words"), !words.isEmpty else {
        throw node.error("a keywords filter needs a non-empty 'words' list")
      }
      let match = try map.choice("match", ["whole_word", "substring"], default: "whole_word")
      return KeywordFilter(
        name: try map.string("name", default: "keywords"), fields: fields, keywords: words,
        wholeWord: match == "whole_word")
    }
  }

  /// Whole-word matching follows regex `\b`: a keyword end that is a word
  /// character must not touch another word character.
  private func contains(_ text: [Unicode.Scalar], _ keyword: [Unicode.Scalar]) -> Bool {
    guard let first = keyword.first, let last = keyword.last, keyword.count <= text.count else { return false }
    let firstIsWord = Text.isWordScalar(first), lastIsWord = Text.isWordScalar(last)
    var i = 0
    while i + keyword.count <= text.count {
      if text[i] == first, text[i..<(i + keyword.count)].elementsEqual(keyword) {
        if !wholeWord { return true }
        let startOK = i == 0 || !(firstIsWord && Text.isWordScalar(text[i - 1]))
        let end = i + keyword.count
        let endOK = end == text.count || !(lastIsWord && Text.isWordScalar(text[end]))
        if startOK && endOK { return true }
      }
      i += 1
    }
    return false
  }
}

/// `first_character`: drops records whose field starts with punctuation or a
/// symbol (`punctuation`, Alpaca's rule), or with a non-ASCII character
/// (`non_ascii`, off by default: it drops every non-English instruction).
public struct FirstCharacterFilter: RecordFilter {
  public let name: String
  public let field: String
  public let punctuation: Bool
  public let nonASCII: Bool

  public var exampleField: String { field }

  public func check(_ record: Record) -> String? {
    let text = Text.trimmed(record.string(field) ?? "")
    guard let first = text.unicodeScalars.first else { return nil }  // empty text is `non_empty`'s business
    if punctuation && (first.properties.generalCategory.isPunctuationOrSymbol) { return "punctuation" }
    if nonASCII && !first.isASCII { return "non_ascii" }
    return nil
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("first_character") { map, _ throws(InstillError) in
      FirstCharacterFilter(name: try map.string("name", default: "first_character"),
                           field: try map.string("field", default: "instruction"),
                           punctuation: try map.bool("punctuation", default: true),
                           nonASCII: try map.bool("non_ascii", default: false))
    }
  }
}

extension Unicode.GeneralCategory {
  var isPunctuationOrSymbol: Bool {
    switch self {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
         .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
      true
    default:
      false
    }
  }
}

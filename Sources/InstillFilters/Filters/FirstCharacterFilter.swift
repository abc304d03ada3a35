import InstillCore

/// `first_character`: drops records whose field starts with punctuation
/// (`punctuation`: any Unicode punctuation or symbol, or with `punctuation_set:
/// ascii` only Python's `string.punctuation`, as Self-Instruct and Alpaca do), or
/// with a non-ASCII character (`non_ascii`, off by default: it drops every
/// non-English instruction).
public struct FirstCharacterFilter: RecordFilter {
  public enum PunctuationSet: String, Sendable, CaseIterable { case unicode, ascii }

  public let name: String
  public let field: String
  public let punctuation: Bool
  public let nonASCII: Bool
  public let punctuationSet: PunctuationSet

  public init(
    name: String = "first_character", field: String = "instruction", punctuation: Bool = true,
    nonASCII: Bool = false, punctuationSet: PunctuationSet = .unicode
  ) {
    self.name = name
    self.field = field
    self.punctuation = punctuation
    self.nonASCII = nonASCII
    self.punctuationSet = punctuationSet
  }

  public var exampleField: String { field }

  /// Python's `string.punctuation`.
  static let asciiPunctuation = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars)

  public func check(_ record: Record) -> String? {
    let text = Text.trimmed(record.string(field) ?? "")
    guard let first = text.unicodeScalars.first else { return nil }  // empty text is `non_empty`'s business
    if punctuation {
      let hit =
        punctuationSet == .ascii
        ? Self.asciiPunctuation.contains(first)
        : first.properties.generalCategory.isPunctuationOrSymbol
      if hit { return "punctuation" }
    }
    if nonASCII && !first.isASCII { return "non_ascii" }
    return nil
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("first_character") { map, _ throws(InstillError) in
      FirstCharacterFilter(
        name: try map.string("name", default: "first_character"),
        field: try map.string("field", default: "instruction"),
        punctuation: try map.bool("punctuation", default: true),
        nonASCII: try map.bool("non_ascii", default: false),
        punctuationSet: try map.choice("punctuation_set", default: .unicode))
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

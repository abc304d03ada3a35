import InstillCore

/// `placeholder`: drops records whose fields still carry template debris: a
/// leftover `{name}` slot (`braces`), `<noinput>` or `<no input>` (`noinput`),
/// or a prompt-template marker such as `#Rewritten Prompt#`, `#Given Prompt#`,
/// `[INSERT …]`, `<placeholder>` (`template_marker`). Fields default to the
/// instruction and input: code in outputs legitimately has `{name}`.
public struct PlaceholderFilter: RecordFilter {
  public static let markers = [
    "#rewritten prompt#", "#given prompt#", "#created prompt#", "#the given prompt#",
    "[insert ", "<placeholder>",
  ]

  public let name: String
  public let fields: [String]

  public var exampleField: String { fields.first ?? "instruction" }

  public func check(_ record: Record) -> String? {
    for field in fields {
      guard let text = record.string(field), !text.isEmpty else { continue }
      let lower = text.lowercased()
      if lower.contains("<noinput>") || lower.contains("<no input>") { return "noinput" }
      if Self.markers.contains(where: { lower.contains($0) }) { return "template_marker" }
      if text.contains(/\{[A-Za-z_][A-Za-z0-9_ ]{0,30}\}/) { return "braces" }
    }
    return nil
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("placeholder") { map, _ throws(InstillError) in
      PlaceholderFilter(
        name: try map.string("name", default: "placeholder"),
        fields: try map.stringList("fields") ?? ["instruction", "input"])
    }
  }
}

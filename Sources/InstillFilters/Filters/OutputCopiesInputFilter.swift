import InstillCore

/// `output_copies_input`: drops records whose output only repeats the input
/// (`copies_input`) or the instruction (`copies_instruction`): equal after
/// folding case and white space, or the whole output found inside it when the
/// output is at least `min_chars` (20) long.
public struct OutputCopiesInputFilter: RecordFilter {
  public let name: String
  public let minChars: Int

  public var exampleField: String { "output" }

  public func check(_ record: Record) -> String? {
    let output = Self.fold(record.output)
    guard !output.isEmpty else { return nil }
    for (field, reason) in [("input", "copies_input"), ("instruction", "copies_instruction")] {
      let other = Self.fold(record.string(field) ?? "")
      guard !other.isEmpty else { continue }
      if output == other || (output.count >= minChars && other.contains(output)) { return reason }
    }
    return nil
  }

  static func fold(_ text: String) -> String {
    text.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("output_copies_input") { map, _ throws(InstillError) in
      OutputCopiesInputFilter(
        name: try map.string("name", default: "output_copies_input"),
        minChars: try map.int("min_chars", default: 20, in: 1...1_000_000))
    }
  }
}

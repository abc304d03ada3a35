import InstillCore

/// `unfinished`: drops records the LLM cut at its length limit (`meta.truncated`
/// set by the stage that asked), reason `truncated`.
public struct UnfinishedFilter: RecordFilter {
  public let name: String

  public var exampleField: String { "output" }

  public func check(_ record: Record) -> String? {
    record.meta["truncated"] == .bool(true) ? "truncated" : nil
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("unfinished") { map, _ throws(InstillError) in
      UnfinishedFilter(name: try map.string("name", default: "unfinished"))
    }
  }
}

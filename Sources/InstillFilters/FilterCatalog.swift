import InstillCore

/// Builds a filter from its entry in a `filters:` list (`map`, at `node`). It
/// must read every key it accepts; the catalog rejects the others.
public typealias FilterFactory = @Sendable (ConfigMap, ConfigNode) throws(InstillError) -> any RecordFilter

/// The filter types a `filters:` list may name. Adding a filter is one file
/// with a `register(in:)` and one line in `standard` (or a method's own
/// registration); an unknown type is an input error.
public struct FilterCatalog: Sendable {
  public private(set) var factories: [String: FilterFactory] = [:]

  public init() {}

  public mutating func register(_ type: String, _ factory: @escaping FilterFactory) {
    factories[type] = factory
  }

  public var types: [String] { factories.keys.sorted() }

  /// The built-in filters.
  public static var standard: FilterCatalog {
    var catalog = FilterCatalog()
    LengthFilter.register(in: &catalog)
    KeywordFilter.register(in: &catalog)
    NonEmptyFilter.register(in: &catalog)
    AffixFilter.register(in: &catalog)
    FirstCharacterFilter.register(in: &catalog)
    RefusalFilter.register(in: &catalog)
    RepetitionFilter.register(in: &catalog)
    OutputCopiesInputFilter.register(in: &catalog)
    PlaceholderFilter.register(in: &catalog)
    UnfinishedFilter.register(in: &catalog)
    ScriptFilter.register(in: &catalog)
    ScoreFilter.register(in: &catalog)
    ReasoningFilter.register(in: &catalog)
    return catalog
  }

  /// Reads a `filters:` list, in order; names must be unique within it.
  public func parse(_ nodes: [ConfigNode]) throws(InstillError) -> [any RecordFilter] {
    var filters: [any RecordFilter] = []
    var names = Set<String>()
    for node in nodes {
      let map = try node.mapping()
      guard let typeNode = map.node("type") else {
        throw node.error("missing required key 'type' (one of \(types.joined(separator: ", ")))")
      }
      let type = try typeNode.string()
      guard let factory = factories[type] else {
        throw typeNode.error("unknown filter type '\(type)' (known types: \(types.joined(separator: ", ")))")
      }
      let filter = try factory(map, node)
      try map.finish()
      guard names.insert(filter.name).inserted else {
        throw node.error("two filters are named '\(filter.name)'; set 'name' to tell them apart")
      }
      filters.append(filter)
    }
    return filters
  }
}

enum FilterCatalogKey: ServiceKey {
  typealias Value = FilterCatalog
}

extension StageCatalog {
  /// The filter types a `filters:` list may name (the standard ones unless a
  /// module registers more).
  public var filters: FilterCatalog {
    get { services[FilterCatalogKey.self] ?? .standard }
    set { services[FilterCatalogKey.self] = newValue }
  }
}

extension StageBuildContext {
  /// The filter types a `filters:` list may name.
  public var filters: FilterCatalog { services[FilterCatalogKey.self] ?? .standard }
}

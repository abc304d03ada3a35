import InstillCore

/// A quality check on one record. Returns nil to keep the record, or the reason
/// it is dropped (a short, stable key such as `too_short` or `keyword:image`).
public protocol RecordFilter: Sendable {
  /// Unique within its stage; the key of its counts in the statistics.
  var name: String { get }
  /// The field whose text is shown as the example of a drop.
  var exampleField: String { get }
  func check(_ record: Record) -> String?
}

/// Filters applied in order; the first to object drops the record. Each
/// filter's counts go to `stats`, so seen(n+1) == kept(n).
public struct FilterChain: Sendable {
  public let filters: [any RecordFilter]

  public init(_ filters: [any RecordFilter]) { self.filters = filters }

  public var names: [String] { filters.map(\.name) }

  /// True when every filter keeps the record.
  public func keep(_ record: Record, stats: StatsRecorder) -> Bool {
    for filter in filters {
      if let reason = filter.check(record) {
        stats.filter(
          filter.name, kept: false, reason: reason, example: record.string(filter.exampleField) ?? record.instruction)
        return false
      }
      stats.filter(filter.name, kept: true)
    }
    return true
  }
}

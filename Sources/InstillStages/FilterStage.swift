import InstillCore
import InstillFilters

/// `kind: filter` — applies quality filters in order; each filter keeps its own
/// counts (seen, kept, dropped by reason, examples).
public struct FilterStage: MapStage {
  public let chain: FilterChain

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("filter") { params, context throws(InstillError) in
      let nodes = try params.require("filters").list()
      if nodes.isEmpty { throw params.owner.error("'filters' is empty") }
      return FilterStage(chain: FilterChain(try context.filters.parse(nodes)))
    }
  }

  public func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    context.stats.declareFilters(chain.names)
    var n = 0
    while let record = try input.read() {
      context.stats.recordIn()
      if chain.keep(record, stats: context.stats) {
        try output.write(record)
        context.stats.recordOut()
      }
      n += 1
      if n & 1023 == 0 { try context.checkStop() }
    }
  }
}

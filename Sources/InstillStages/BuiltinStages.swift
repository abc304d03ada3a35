import InstillCore

extension StageCatalog {
  /// The stages that need no LLM: read, filter, export.
  public mutating func registerBuiltins() {
    ReadStage.register(in: &self)
    FilterStage.register(in: &self)
    ExportStage.register(in: &self)
  }
}

import InstillCore

extension StageCatalog {
  /// The built-in stages: read, filter, export, generate, dedup.
  public mutating func registerBuiltins() {
    ReadStage.register(in: &self)
    FilterStage.register(in: &self)
    ExportStage.register(in: &self)
    GenerateStage.register(in: &self)
    DedupStage.register(in: &self)
  }
}

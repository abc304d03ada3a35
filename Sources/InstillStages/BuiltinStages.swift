import InstillCore

extension StageCatalog {
  /// The built-in stages: read, filter, export, generate, dedup, MinHash
  /// deduplication (signatures, buckets, remove) and decontamination.
  public mutating func registerBuiltins() {
    ReadStage.register(in: &self)
    FilterStage.register(in: &self)
    ExportStage.register(in: &self)
    GenerateStage.register(in: &self)
    DedupStage.register(in: &self)
    MinHashSignaturesStage.register(in: &self)
    MinHashBucketsStage.register(in: &self)
    MinHashRemoveStage.register(in: &self)
    DecontaminateStage.register(in: &self)
    SemanticDedupStage.register(in: &self)
  }
}

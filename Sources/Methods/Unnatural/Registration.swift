import InstillCore

extension StageCatalog {
  /// Unnatural Instructions' stages: `unnatural_core`, `unnatural_outputs`, `unnatural_paraphrase`.
  public mutating func registerUnnatural() {
    UnnaturalCoreStage.register(in: &self)
    OutputsStage.register(in: &self)
    ParaphraseStage.register(in: &self)
  }
}

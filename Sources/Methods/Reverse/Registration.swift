import InstillCore

extension StageCatalog {
  /// Reverse instructions' stages: `documents`, `self_curate` (usable after any method).
  public mutating func registerReverse() {
    DocumentsStage.register(in: &self)
    SelfCurateStage.register(in: &self)
  }
}

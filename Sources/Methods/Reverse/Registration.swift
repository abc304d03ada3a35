import InstillCore

extension StageCatalog {
  /// Reverse instructions' stages: `self_curate` (usable after any method).
  public mutating func registerReverse() {
    SelfCurateStage.register(in: &self)
  }
}

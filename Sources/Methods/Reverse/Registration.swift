import InstillCore

extension StageCatalog {
  /// Reverse instructions' stages: `documents`, `reverse_instruct`, `self_curate` (usable after any method).
  public mutating func registerReverse() {
    DocumentsStage.register(in: &self)
    ReverseInstructStage.register(in: &self)
    SelfCurateStage.register(in: &self)
  }
}

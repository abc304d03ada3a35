import InstillCore

extension StageCatalog {
  /// Reverse instructions' stage: `reverse_instruct` (after `documents`; `self_curate` rates its records).
  public mutating func registerReverse() {
    ReverseInstructStage.register(in: &self)
  }
}

import InstillCore

extension StageCatalog {
  /// Judges that rate records of any method: `self_curate`.
  public mutating func registerJudges() {
    SelfCurateStage.register(in: &self)
  }
}

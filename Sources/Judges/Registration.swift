import InstillCore

extension StageCatalog {
  /// Judges that rate records of any method: `judge`, `self_curate`, `critique_revise`.
  public mutating func registerJudges() {
    JudgeStage.register(in: &self)
    SelfCurateStage.register(in: &self)
    CritiqueReviseStage.register(in: &self)
  }
}

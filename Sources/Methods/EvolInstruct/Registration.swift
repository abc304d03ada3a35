import InstillCore

extension StageCatalog {
  /// Evol-Instruct's stage: `evol_instruct`.
  public mutating func registerEvolInstruct() {
    EvolStage.register(in: &self)
  }
}

import InstillCore

extension StageCatalog {
  /// Self-Instruct's stages: `self_instruct` (bootstrap), `classify`,
  /// `instances`, and the Alpaca variant `alpaca`.
  public mutating func registerSelfInstruct() {
    BootstrapStage.register(in: &self)
    ClassifyStage.register(in: &self)
    InstancesStage.register(in: &self)
    AlpacaStage.register(in: &self)
  }
}

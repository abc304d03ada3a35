import InstillCore

extension StageCatalog {
  /// Magpie's stage: `magpie` (seedless; a first stage, or after any stage whose records it must differ from).
  public mutating func registerMagpie() {
    MagpieStage.register(in: &self)
  }
}

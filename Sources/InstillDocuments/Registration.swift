import InstillCore

extension StageCatalog {
  /// Document ingestion: the `documents` source stage.
  public mutating func registerDocuments() {
    DocumentsStage.register(in: &self)
  }
}

/// Names a service a stage may be given (an LLM endpoint, the filter types),
/// defined by the module that owns the service's type. Core carries services
/// without knowing them, so it depends on none of those modules.
public protocol ServiceKey {
  associatedtype Value: Sendable
}

/// Services by key: what the runner hands a running stage (`StageContext`) or a
/// pipeline hands a stage factory (`StageBuildContext`). Modules read and write
/// them through typed properties of their own (`context.llm`, `catalog.filters`).
public struct Services: Sendable {
  private var values: [ObjectIdentifier: any Sendable] = [:]

  public init() {}

  public subscript<Key: ServiceKey>(_ key: Key.Type) -> Key.Value? {
    get { values[ObjectIdentifier(key)] as? Key.Value }
    set { values[ObjectIdentifier(key)] = newValue }
  }
}

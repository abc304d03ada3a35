import InstillCore

/// The checks an item goes through, in order, as a stage reports them when it
/// runs its own checks (parse checks, elimination rules) rather than a
/// `FilterChain`: the trail counts every check the item passed before it
/// stopped, so each check's seen count is the previous one's kept count.
public struct FilterTrail: Sendable {
  public let names: [String]

  public init(_ names: [String]) { self.names = names }

  /// The item passed every check.
  public func passedAll(_ stats: StatsRecorder) {
    for name in names { stats.filter(name, kept: true) }
  }

  /// The item passed the checks before `filter` and went no further (a request
  /// it needed failed, say): `filter` and the later checks never saw it.
  public func passed(upTo filter: String, _ stats: StatsRecorder) {
    assert(names.contains(filter), "\(filter) is not on the trail \(names)")
    for name in names.prefix(while: { $0 != filter }) { stats.filter(name, kept: true) }
  }

  /// The item passed the checks before `filter`, and `filter` dropped it.
  public func rejected(by filter: String, reason: String, example: String, _ stats: StatsRecorder) {
    passed(upTo: filter, stats)
    stats.filter(filter, kept: false, reason: reason, example: example)
  }
}

import Synchronization

/// A folder of the run directory that a stage fills as a whole (the exported
/// dataset, `DIR/data`). The stage writes into a staging copy; the runner
/// publishes it in place of the old one only when the stage has succeeded, so
/// readers see either the previous folder or the complete new one.
public final class PublishedFolder: Sendable {
  public let target: String
  let staging: String
  let previous: String
  private let opened = Mutex(false)

  public init(target: String) {
    self.target = target
    staging = target + ".tmp"
    previous = target + ".old"
  }

  /// The empty staging folder to write into (emptied on every call).
  public func open() throws(InstillError) -> String {
    FileSystem.remove(staging)
    try FileSystem.createDirectory(staging)
    opened.withLock { $0 = true }
    return staging
  }

  public var isOpen: Bool { opened.withLock { $0 } }

  /// Swaps the staging folder into place (the runner calls this).
  public func publish() throws(InstillError) {
    guard isOpen else { return }
    FileSystem.remove(previous)
    if FileSystem.exists(target) { try FileSystem.rename(target, to: previous) }
    try FileSystem.rename(staging, to: target)
    FileSystem.remove(previous)
    opened.withLock { $0 = false }
  }

  /// Drops an unfinished staging folder (the runner calls this on failure).
  public func discard() {
    guard isOpen else { return }
    FileSystem.remove(staging)
    opened.withLock { $0 = false }
  }
}

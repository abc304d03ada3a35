import Foundation
import Synchronization

/// Budgets and stop requests shared by everything in one `instill run`.
/// `--max-time`, `--max-requests`, SIGINT and SIGTERM all end up here, and
/// stages poll `check()` between items so they stop at a clean point.
public final class RunControl: Sendable {
  private let deadline: ContinuousClock.Instant?
  public let maxRequests: Int?
  private let requests = Atomic<Int>(0)
  private let stopReason = Mutex<String?>(nil)
  /// This process's run, for counting in how many separate runs a request failed.
  public let runID = UUID().uuidString

  public init(maxTime: Double? = nil, maxRequests: Int? = nil) {
    self.deadline = maxTime.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
    self.maxRequests = maxRequests
  }

  /// Asks everything to stop at the next clean point.
  public func requestStop(_ reason: String) {
    stopReason.withLock { if $0 == nil { $0 = reason } }
  }

  public var stopRequested: String? {
    if let reason = stopReason.withLock({ $0 }) { return reason }
    if let deadline, ContinuousClock.now >= deadline { return "--max-time reached" }
    return nil
  }

  public func check() throws(StoppedEarly) {
    if let reason = stopRequested { throw StoppedEarly(reason) }
  }

  /// Takes one request from the `--max-requests` budget; throws when it is spent.
  public func takeRequest() throws(StoppedEarly) {
    try check()
    guard let maxRequests else {
      requests.add(1, ordering: .relaxed)
      return
    }
    let (_, new) = requests.add(1, ordering: .relaxed)
    if new > maxRequests {
      requests.subtract(1, ordering: .relaxed)
      requestStop("--max-requests \(maxRequests) reached")
      throw StoppedEarly("--max-requests \(maxRequests) reached")
    }
  }
}

/// The most serious of several errors from work running side by side: any
/// error outranks a `StoppedEarly`, otherwise the first is kept.
public struct MostSeriousError {
  public private(set) var error: (any Error)?

  public init(_ error: (any Error)? = nil) { self.error = error }

  public mutating func keep(_ other: any Error) {
    if error == nil || (error is StoppedEarly && !(other is StoppedEarly)) { error = other }
  }
}

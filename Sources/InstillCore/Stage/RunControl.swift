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
  private let cost = Mutex<CostBudget?>(nil)

  /// `--max-cost`: what this invocation may spend, priced by `prices`.
  struct CostBudget {
    let limit: Double
    let prices: PriceTable
    var spent = 0.0
    /// The worst cases of requests in flight.
    var reserved = 0.0
    /// Per model, the most prompt tokens a reply reported beyond the request's
    /// own estimate (chat templates and default system prompts add tokens the
    /// text does not show); later worst cases include it.
    var promptOverhead: [String: Int] = [:]
    /// Per model, the most completion tokens (thinking included) one request has
    /// reported; a request with no `max_tokens` of its own reserves at least this.
    var largestCompletion: [String: Int] = [:]
  }

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

extension RunControl {
  /// Limits the run directory's spending to `limit` (in the prices' currency),
  /// `alreadySpent` of it by earlier invocations.
  public func limitCost(_ limit: Double, prices: PriceTable, alreadySpent: Double = 0) {
    cost.withLock { $0 = CostBudget(limit: limit, prices: prices, spent: alreadySpent) }
  }

  /// What the run directory has spent on priced requests, this invocation
  /// included; nil without `--max-cost`.
  public var costSpent: Double? { cost.withLock { $0?.spent } }

  /// What `reserveCost` decided.
  public enum CostReservation: Sendable {
    /// Send; this much (the worst case) is reserved until `settleCost`.
    case reserved(Double)
    /// Requests in flight may leave room for this one: ask again when one has settled.
    case wait
  }

  /// Before sending a request: reserves its worst case (its prompt tokens all
  /// uncached and `maxTokens` generated) from the `--max-cost` budget. While
  /// requests in flight might still leave room it says `wait`; once what is
  /// spent leaves no room it throws `StoppedEarly` (the run stops cleanly
  /// before the request). A model without a price is an input error.
  ///
  /// `capped` says `maxTokens` is the request's own limit; otherwise it is an
  /// assumption, raised to the most completion tokens the model has used so far
  /// (thinking models can write far more than they answer).
  public func reserveCost(model: String, promptTokens: Int, maxTokens: Int, capped: Bool = true) throws
    -> CostReservation
  {
    enum Outcome {
      case decided(CostReservation)
      case unpriced(String)
      case over(String)
    }
    let outcome: Outcome = cost.withLock { budget in
      guard let current = budget else { return .decided(.reserved(0)) }
      guard let price = current.prices.price(for: model) else { return .unpriced(current.prices.source) }
      let generated = capped ? maxTokens : max(maxTokens, current.largestCompletion[model, default: 0])
      let worst = price.worstCase(
        promptTokens: promptTokens + current.promptOverhead[model, default: 0], maxTokens: generated)
      if current.spent + worst > current.limit {
        let currency = price.currency
        return .over(
          "--max-cost \(Self.shown(current.limit)) \(currency) reached: \(Self.shown(current.spent)) \(currency) "
            + "spent in this run directory, the next request could cost \(Self.shown(worst)) \(currency)")
      }
      if current.spent + current.reserved + worst > current.limit { return .decided(.wait) }
      budget?.reserved += worst
      return .decided(.reserved(worst))
    }
    switch outcome {
    case .decided(let decision): return decision
    case .unpriced(let source):
      throw InstillError.input(
        "--max-cost needs a price for every model asked; '\(model)' has none", file: source, field: "prices")
    case .over(let reason):
      requestStop(reason)
      throw StoppedEarly(reason)
    }
  }

  /// After a request: replaces its reservation with what it cost (`usage`
  /// priced; nothing when it failed). `estimatedPromptTokens` is what
  /// `reserveCost` was told, to learn the model's prompt overhead.
  public func settleCost(reserved: Double, model: String, estimatedPromptTokens: Int, usage: ModelUsage?) {
    cost.withLock { budget in
      guard budget != nil else { return }
      budget!.reserved = max(0, budget!.reserved - reserved)
      guard let usage else { return }
      if let price = budget!.prices.price(for: model) { budget!.spent += price.cost(of: usage) }
      let overhead = usage.promptTokens - estimatedPromptTokens
      if overhead > budget!.promptOverhead[model, default: 0] { budget!.promptOverhead[model] = overhead }
      let completion = usage.completionTokens / max(1, usage.requests)
      if completion > budget!.largestCompletion[model, default: 0] { budget!.largestCompletion[model] = completion }
    }
  }

  static func shown(_ amount: Double) -> String { String(format: "%.6g", amount) }
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

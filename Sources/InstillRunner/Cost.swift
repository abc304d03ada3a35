import Foundation
import InstillCore

/// What one model of a stage cost: its usage priced, or no price.
public struct ModelCost: Codable, Sendable, Equatable {
  public var usage: ModelUsage
  /// nil when the user's prices name no such model: tokens only, never a guess.
  public var cost: Double?

  enum CodingKeys: String, CodingKey { case usage, cost }

  /// `cost` is written as null when there is no price, never left out.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(usage, forKey: .usage)
    try c.encode(cost, forKey: .cost)
  }
}

/// One cascade tier's cost: its replies priced at its model's price.
public struct TierCost: Codable, Sendable, Equatable {
  /// 0 for the cheapest tier.
  public var position: Int
  public var model: String
  public var answered: Int
  public var escalated: Int
  /// nil when the tier's model has no price.
  public var cost: Double?

  enum CodingKeys: String, CodingKey { case position, model, answered, escalated, cost }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(position, forKey: .position)
    try c.encode(model, forKey: .model)
    try c.encode(answered, forKey: .answered)
    try c.encode(escalated, forKey: .escalated)
    try c.encode(cost, forKey: .cost)
  }
}

/// A stage's cost: the priced part of its paid requests, per model.
public struct StageCost: Codable, Sendable, Equatable {
  public var amount: Double
  public var currency: String?
  public var models: [String: ModelCost]
  /// Models with paid tokens and no price (the amount leaves them out).
  public var unpriced: [String]
  /// A cascade's tiers (by endpoint name), when the stage has one.
  public var tiers: [String: TierCost]?
  /// What the cascade saved against sending every record to its last tier:
  /// the last tier's price for the tokens the cheaper tiers' accepted replies
  /// used, minus what the cheaper tiers cost (rejected replies included).
  /// Negative when the cascade cost more; nil without prices for every tier.
  public var cascadeSaving: Double?

  enum CodingKeys: String, CodingKey {
    case amount, currency, models, unpriced = "unpriced_models", tiers, cascadeSaving = "cascade_saving"
  }

  /// The cost of a stage's requests under `prices`; nil when it paid for none.
  public static func of(_ stats: StageStats, prices: PriceTable?) -> StageCost? {
    guard var cost = of(stats.llm, prices: prices) else { return nil }
    guard !stats.cascade.isEmpty else { return cost }
    let ordered = stats.cascade.sorted { $0.value.position < $1.value.position }
    var tiers: [String: TierCost] = [:]
    for (name, tier) in ordered {
      tiers[name] = TierCost(
        position: tier.position, model: tier.model, answered: tier.answered, escalated: tier.escalated,
        cost: prices?.price(for: tier.model)?.cost(of: tier.usage))
    }
    cost.tiers = tiers
    if let last = ordered.last, let strongest = prices?.price(for: last.value.model) {
      var saving: Double? = 0
      for (_, tier) in ordered.dropLast() {
        guard let price = prices?.price(for: tier.model), let sum = saving else {
          saving = nil
          break
        }
        saving = sum + strongest.cost(of: tier.answeredUsage) - price.cost(of: tier.usage)
      }
      cost.cascadeSaving = saving
    }
    return cost
  }

  /// `llm 30 answered, 12 escalated, 0.0001 USD; strong 12 answered, 0.0034 USD; saved 0.0021 USD against all on strong`.
  public var cascadeSummary: String? {
    guard let tiers else { return nil }
    let parts = tiers.sorted { $0.value.position < $1.value.position }.map { name, t in
      "\(name) (\(t.model)) \(t.answered) answered, \(t.escalated) escalated, "
        + (t.cost.map { "\(CostFormat.amount($0)) \(currency ?? "")" } ?? "no price")
    }
    var text = parts.joined(separator: "; ")
    if let cascadeSaving {
      text += "; saved \(CostFormat.amount(cascadeSaving)) \(currency ?? "") against all on the last tier"
    }
    return text
  }

  /// The cost of `llm` under `prices`; nil when the stage paid for no request.
  public static func of(_ llm: LLMStats, prices: PriceTable?) -> StageCost? {
    var usage = llm.byModel
    // Statistics written before per-model usage: their tokens, with no model to price.
    var known = ModelUsage()
    for used in usage.values { known.merge(used) }
    if llm.promptTokens + llm.completionTokens > known.promptTokens + known.completionTokens {
      usage["(unknown model)"] = ModelUsage(
        requests: max(0, llm.requestsSent - known.requests),
        promptTokens: max(0, llm.promptTokens - known.promptTokens),
        completionTokens: max(0, llm.completionTokens - known.completionTokens))
    }
    guard !usage.isEmpty else { return nil }
    var models: [String: ModelCost] = [:]
    var amount = 0.0
    for (model, used) in usage {
      let cost = prices?.price(for: model)?.cost(of: used)
      models[model] = ModelCost(usage: used, cost: cost)
      amount += cost ?? 0
    }
    return StageCost(
      amount: amount, currency: prices?.currency, models: models,
      unpriced: models.filter { $0.value.cost == nil }.keys.sorted())
  }

  /// `0.0123 USD (gpt-x: 1200 prompt (300 cached) + 400 completion tokens; other: 90 + 10 tokens, no price)`.
  public var summary: String {
    let parts = models.sorted { $0.key < $1.key }.map { model, c in
      let cached = c.usage.cachedPromptTokens > 0 ? " (\(c.usage.cachedPromptTokens) cached)" : ""
      let reasoning = c.usage.reasoningTokens > 0 ? " (\(c.usage.reasoningTokens) reasoning)" : ""
      return
        "\(model): \(c.usage.promptTokens) prompt\(cached) + \(c.usage.completionTokens) completion\(reasoning) tokens"
        + (c.cost == nil ? ", no price" : "")
    }
    let head =
      unpriced.count == models.count ? "no price" : "\(CostFormat.amount(amount)) \(currency ?? "")"
    return head + " (" + parts.joined(separator: "; ") + ")"
  }
}

/// The run's cost: every stage's, and per exported example, the figure recipes are compared by.
public struct RunCost: Codable, Sendable, Equatable {
  public var total: Double
  public var currency: String?
  /// Records the dataset holds (the export stage's output, else the last stage's).
  public var exportedRecords: Int
  /// `total / exportedRecords`; nil before any record is exported.
  public var perKeptExample: Double?
  /// The oldest `as_of` date of the prices used, and where they came from.
  public var pricesAsOf: String?
  public var pricesSource: String?
  /// Models with paid tokens and no price: the total leaves them out.
  public var unpriced: [String]

  enum CodingKeys: String, CodingKey {
    case total, currency, exportedRecords = "exported_records", perKeptExample = "per_kept_example"
    case pricesAsOf = "prices_as_of", pricesSource = "prices_source", unpriced = "unpriced_models"
  }

  static func of(_ stages: [StatsReport.StageEntry], prices: PriceTable?) -> RunCost? {
    let costs = stages.compactMap(\.cost)
    guard !costs.isEmpty else { return nil }
    let total = costs.reduce(0) { $0 + $1.amount }
    let exported = (stages.last { $0.kind == "export" } ?? stages.last)?.stats.recordsOut ?? 0
    let unpriced = Set(costs.flatMap(\.unpriced)).sorted()
    let anyPriced = costs.contains { $0.unpriced.count < $0.models.count }
    return RunCost(
      total: total, currency: prices?.currency, exportedRecords: exported,
      perKeptExample: exported > 0 && anyPriced ? total / Double(exported) : nil,
      pricesAsOf: prices?.oldestAsOf, pricesSource: prices?.source, unpriced: unpriced)
  }

  /// `cost: 0.41 USD in all, 0.0021 USD per exported example (196 exported; prices yours, as of 2026-11-01, …)`.
  public var summary: String {
    let currency = self.currency ?? ""
    guard let perKeptExample else {
      if currency.isEmpty || total == 0 && !unpriced.isEmpty {
        return "cost: no price (no prices given for \(unpriced.joined(separator: ", "))); tokens are counted per stage"
      }
      return "cost: \(CostFormat.amount(total)) \(currency) in all, nothing exported yet" + unpricedNote
    }
    return
      "cost: \(CostFormat.amount(total)) \(currency) in all, \(CostFormat.amount(perKeptExample)) \(currency) "
      + "per exported example (\(exportedRecords) exported); prices as of \(pricesAsOf ?? "?") from \(pricesSource ?? "?")"
      + unpricedNote
  }

  var unpricedNote: String {
    unpriced.isEmpty ? "" : "; not counted, no price: \(unpriced.joined(separator: ", "))"
  }
}

enum CostFormat {
  /// Four significant digits, never exponent notation.
  static func amount(_ value: Double) -> String {
    if value == 0 { return "0" }
    let digits = max(2, 4 - Int(floor(log10(abs(value)))) - 1)
    return String(format: "%.\(min(digits, 10))f", value)
  }
}

import Foundation

/// What one model costs, as the user wrote it: prices per million tokens in a
/// currency, dated. instill ships no prices; these are always the user's.
public struct ModelPrice: Codable, Sendable, Equatable {
  /// Per million prompt tokens.
  public var input: Double
  /// Per million prompt tokens the server reported as cached; nil charges them as `input`.
  public var cachedInput: Double?
  /// Per million completion tokens.
  public var output: Double
  public var currency: String
  /// When the user read these prices (YYYY-MM-DD).
  public var asOf: String
  /// Per million tokens through the batch API; nil charges batch requests as online ones.
  public var batchInput: Double?
  public var batchOutput: Double?

  enum CodingKeys: String, CodingKey {
    case input, cachedInput = "cached_input", output, currency, asOf = "as_of"
    case batchInput = "batch_input", batchOutput = "batch_output"
  }

  public init(input: Double, cachedInput: Double? = nil, output: Double, currency: String, asOf: String) {
    self.input = input
    self.cachedInput = cachedInput
    self.output = output
    self.currency = currency
    self.asOf = asOf
  }

  /// The cost of what `usage` says was used.
  public func cost(of usage: ModelUsage) -> Double {
    let cached = min(usage.cachedPromptTokens, usage.promptTokens)
    let uncached = usage.promptTokens - cached
    return
      (Double(uncached) * input + Double(cached) * (cachedInput ?? input) + Double(usage.completionTokens) * output)
      / 1_000_000
  }

  /// The most a request can cost: all its prompt tokens uncached and `maxTokens` generated.
  public func worstCase(promptTokens: Int, maxTokens: Int) -> Double {
    (Double(promptTokens) * input + Double(maxTokens) * output) / 1_000_000
  }
}

/// The pipeline's `prices`: per model name (as sent in requests), its price.
/// Either a mapping in the pipeline or `prices: FILE` (YAML or JSON of the
/// same mapping) shared across pipelines. One currency for the whole table.
public struct PriceTable: Codable, Sendable, Equatable {
  public var models: [String: ModelPrice]
  /// Where the prices came from (the pipeline or the prices file), for reports.
  public var source: String

  enum CodingKeys: String, CodingKey { case models, source }

  public init(models: [String: ModelPrice], source: String) {
    self.models = models
    self.source = source
  }

  public var currency: String { models.values.first?.currency ?? "" }

  /// The oldest `as_of` of the table: how stale a figure may be.
  public var oldestAsOf: String { models.values.map(\.asOf).min() ?? "" }

  /// The price of a model name as usage records it: `NAME (batch)` is NAME
  /// through the batch API, at its `batch_input` / `batch_output` prices.
  public func price(for model: String) -> ModelPrice? {
    guard model.hasSuffix(Self.batchSuffix) else { return models[model] }
    guard var price = models[String(model.dropLast(Self.batchSuffix.count))] else { return nil }
    price.input = price.batchInput ?? price.input
    price.output = price.batchOutput ?? price.output
    return price
  }

  /// Appended to a model's name in usage for requests sent through the batch API.
  public static let batchSuffix = " (batch)"

  /// Reads `prices:` from the pipeline: a mapping, or the path of a file
  /// (relative to the pipeline's folder) holding one.
  public static func parse(_ node: ConfigNode, pipelineDirectory: String) throws(InstillError) -> PriceTable {
    if case .scalar = node.node {
      let name = try node.string()
      let path = name.hasPrefix("/") ? name : (pipelineDirectory as NSString).appendingPathComponent(name)
      guard FileSystem.exists(path) else { throw node.error("no prices file at \(path)") }
      let text = try FileSystem.readString(path, what: "prices file")
      let root = try ConfigNode.parse(yaml: text, file: path, what: "prices file")
      return try parseMapping(root, source: path)
    }
    return try parseMapping(node, source: node.file)
  }

  static func parseMapping(_ node: ConfigNode, source: String) throws(InstillError) -> PriceTable {
    let map = try node.mapping()
    var models: [String: ModelPrice] = [:]
    var firstCurrency: (String, String)?
    for model in map.keys {
      let entry = try map.require(model)
      let m = try entry.mapping()
      let currency = try m.string("currency")
      guard currency.range(of: "^[A-Za-z]{3}$", options: .regularExpression) != nil else {
        throw try m.require("currency").error("expected a three-letter currency code such as USD or EUR")
      }
      let asOfNode = try m.require("as_of")
      let asOf = try asOfNode.string()
      guard asOf.range(of: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", options: .regularExpression) != nil else {
        throw asOfNode.error("expected the date the price was read, as YYYY-MM-DD")
      }
      var price = ModelPrice(
        input: try requiredPrice(m, "input"), cachedInput: try m.optionalDouble("cached_input", in: 0...1_000_000),
        output: try requiredPrice(m, "output"), currency: currency.uppercased(), asOf: asOf)
      price.batchInput = try m.optionalDouble("batch_input", in: 0...1_000_000)
      price.batchOutput = try m.optionalDouble("batch_output", in: 0...1_000_000)
      try m.finish()
      if let (first, firstModel) = firstCurrency, first != price.currency {
        throw try m.require("currency").error(
          "all prices use one currency: '\(firstModel)' is in \(first), '\(model)' in \(price.currency)")
      }
      if firstCurrency == nil { firstCurrency = (price.currency, model) }
      models[model] = price
    }
    guard !models.isEmpty else { throw node.error("no model has a price; give at least one, or remove prices") }
    return PriceTable(models: models, source: source)
  }

  private static func requiredPrice(_ m: ConfigMap, _ key: String) throws(InstillError) -> Double {
    let node = try m.require(key)
    return try ConfigMap.checked(try node.double(), in: 0...1_000_000, at: node)
  }
}

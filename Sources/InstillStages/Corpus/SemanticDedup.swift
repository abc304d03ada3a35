import Foundation
import InstillCore
import InstillKit
import InstillLLM

/// `kind: semantic_dedup` (global) — greedy near-duplicate removal by meaning:
/// each record's text is embedded through an OpenAI-compatible `/embeddings`
/// endpoint, and a record is dropped when its cosine similarity to a record kept
/// before it (in input order) is above `threshold`. Catches paraphrases that
/// share few words, which ROUGE-L and MinHash miss.
///
/// Embeddings are journaled like any reply, so a resumed or repeated run asks
/// for none again. The search is exact: every kept vector is compared, spread
/// over all cores once the pool is large, up to `max_pool` kept records.
public struct SemanticDedupStage: GlobalStage {
  public let text: TextFields
  public let threshold: Double
  public let endpointName: String?
  public let model: String?
  public let maxPool: Int
  public let recordsPerShard: Int
  public var outputRecordsPerShard: Int { recordsPerShard }
  public var usesLLM: Bool { true }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("semantic_dedup") { params, _ throws(InstillError) in
      SemanticDedupStage(
        text: try TextFields.parse(params, default: "instruction"),
        threshold: try params.double("threshold", default: 0.9, in: -1...1),
        endpointName: try params.optionalString("llm"),
        model: try params.optionalString("model"),
        maxPool: try params.int("max_pool", default: 300_000, in: 1...100_000_000),
        recordsPerShard: try params.int("records_per_shard", default: 1000, in: 1...10_000_000))
    }
  }

  /// Kept vectors (unit length), one after another.
  public final class Pool: @unchecked Sendable {
    public var vectors: [Float] = []
    public var ids: [String] = []
    public var texts: [String] = []
    public var dimension = 0
    public var count: Int { ids.count }
    public init() {}

    /// The most similar kept vector: its index and cosine, or nil for an empty pool.
    public func nearest(_ v: [Float]) -> (index: Int, cosine: Float)? {
      guard count > 0 else { return nil }
      let d = dimension
      let chunks = count >= 8192 ? ProcessInfo.processInfo.activeProcessorCount * 4 : 1
      let per = (count + chunks - 1) / chunks
      var best = [(Int, Float)](repeating: (-1, -.infinity), count: chunks)
      vectors.withUnsafeBufferPointer { pool in
        v.withUnsafeBufferPointer { q in
          best.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let p = pool.baseAddress!
            nonisolated(unsafe) let query = q.baseAddress!
            nonisolated(unsafe) let results = out.baseAddress!
            let count = self.count
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
              var local = (-1, -Float.infinity)
              var i = c * per
              let end = min(count, i + per)
              while i < end {
                let s = Self.dot(p + i * d, query, d)
                if s > local.1 { local = (i, s) }
                i += 1
              }
              results[c] = local
            }
          }
        }
      }
      // The first index wins ties, whatever the chunking.
      var result = best[0]
      for candidate in best.dropFirst() where candidate.0 >= 0 && candidate.1 > result.1 { result = candidate }
      return result.0 < 0 ? nil : (result.0, result.1)
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
      var sum = SIMD16<Float>()
      var i = 0
      while i + 16 <= n {
        let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
        let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
        sum += x * y
        i += 16
      }
      var total = sum.sum()
      while i < n {
        total += a[i] * b[i]
        i += 1
      }
      return total
    }

    public static func unit(_ v: [Float]) -> [Float] {
      var norm: Float = 0
      for x in v { norm += x * x }
      norm = norm.squareRoot()
      return norm > 0 ? v.map { $0 / norm } : v
    }
  }

  enum Outcome: Sendable {
    case vector([Float])
    case failed(String)
    /// The same text (case and white space folded) came earlier: not asked for.
    case repeated
  }

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    let session = try context.llmSession(endpoint: endpointName)
    defer { session.close() }
    let model = self.model ?? session.defaultModel
    context.stats.declareFilters(["exact", "semantic"])
    var seen = Set<String>()
    let pool = Pool()
    var deferred = RequestsDeferred(stage: context.stageName, kinds: [:])
    var paths = input.shardPaths[...]
    var reader: RecordReader?
    var position = 0
    let text = self.text
    func next() throws -> (Record, String, Int, Bool)? {
      while true {
        if reader == nil {
          guard let path = paths.popFirst() else { return nil }
          reader = try RecordReader(path: path)
        }
        if let record = try reader!.read() {
          defer { position += 1 }
          let recordText = try text.text(of: record, file: reader!.path, line: reader!.lineNumber)
          let repeated = !seen.insert(DedupEngine.normalized(recordText)).inserted
          return (record, recordText, position, repeated)
        }
        reader!.close()
        reader = nil
      }
    }
    defer { reader?.close() }
    try await forEachInOrder(next: next, limit: session.concurrency, control: context.control) { item, _ in
      let outcome = try await RequestsDeferred.catching { () async throws -> Outcome in
        if item.3 { return .repeated }
        switch try await session.send(.embedding(item.1, model: model)) {
        case .success(let response):
          guard let vector = response.embedding else { return .failed("malformed_reply") }
          return .vector(vector)
        case .failure(let failure): return .failed(failure.kind)
        }
      }
      return (item, outcome)
    } consume: { result, _ in
      let ((record, recordText, position, _), outcome) = result
      guard let outcome = deferred.unwrap(outcome), deferred.count == 0 else { return }
      context.stats.recordIn()
      let vector: [Float]
      switch outcome {
      case .failed(let kind):
        context.stats.drop("llm_failed:\(kind)")
        return
      case .repeated:
        context.stats.filter("exact", kept: false, reason: "exact_duplicate", example: recordText)
        return
      case .vector(let v): vector = Pool.unit(v)
      }
      context.stats.filter("exact", kept: true)
      if pool.dimension == 0 { pool.dimension = vector.count }
      guard vector.count == pool.dimension else {
        throw InstillError.failure(
          "the endpoint returned an embedding of \(vector.count) numbers after ones of \(pool.dimension) (record \(record.id ?? "#\(position)"))"
        )
      }
      let nearest = pool.nearest(vector)
      if let nearest, Double(nearest.cosine) > threshold {
        context.stats.filter(
          "semantic", kept: false, reason: "cosine>\(threshold)",
          example: String(recordText.prefix(300)) + "  ≈  " + pool.texts[nearest.index])
        return
      }
      guard pool.count < maxPool else {
        throw InstillError.input(
          "more than max_pool (\(maxPool)) records kept: the exact search compares each record with every kept one. "
            + "Raise max_pool if the memory (\(pool.dimension * 4) bytes per kept record) and time allow",
          field: "max_pool")
      }
      context.stats.filter("semantic", kept: true)
      var out = record
      out.updateMeta { meta in
        meta["cosine_max"] = nearest.map { .double((Double($0.cosine) * 1e6).rounded() / 1e6) } ?? .null
        meta["cosine_nearest"] = nearest.map { .string(pool.ids[$0.index]) } ?? .null
      }
      pool.vectors.append(contentsOf: vector)
      pool.ids.append(record.id ?? "#\(position)")
      pool.texts.append(String(recordText.prefix(300)))
      try output.write(out)
      context.stats.recordOut()
    }
    if deferred.count > 0 { throw deferred }
    context.stats.count("pool_bytes", pool.vectors.count * 4)
  }
}

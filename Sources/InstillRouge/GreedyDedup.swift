import Dispatch

/// Greedy near-duplicate removal in input order, as Self-Instruct and Alpaca do
/// it: a text is kept when its ROUGE-L F against every text kept before it
/// (and every seed) is at most the threshold. Batches are scored against the
/// pool on all cores, then resolved in order against the batch's own earlier
/// keepers, so decisions are exactly those of the sequential loop.
public final class GreedyDedup {
  public struct Decision: Sendable, Equatable {
    public var kept: Bool
    /// The most similar pool item (seeds first, then kept texts, in insertion
    /// order), when reported (see `RougePool.reportFloor`).
    public var nearest: Nearest
  }

  public let pool: RougePool
  public let vocabulary: Vocabulary
  public let tokenizer: RougeTokenizer
  public let threads: Int
  private var scratches: [RougePool.Scratch]

  public init(
    threshold: Double = 0.7, reportFloor: Double = 0.5, tokenizer: RougeTokenizer = .rougeScore,
    order: TokenOrder = TokenOrder(), threads: Int = 2, vocabulary: Vocabulary = Vocabulary()
  ) {
    self.vocabulary = vocabulary
    pool = RougePool(threshold: threshold, reportFloor: reportFloor, order: order)
    self.tokenizer = tokenizer
    self.threads = max(1, threads)
    scratches = (0..<max(1, threads)).map { _ in RougePool.Scratch() }
  }

  public func tokens(_ text: String) -> [UInt32] { vocabulary.ids(text, tokenizer: tokenizer) }

  /// Adds texts to the pool unconditionally (seed instructions, `--against` files).
  public func seed(_ texts: [String]) {
    for text in texts { pool.insert(tokens(text)) }
  }

  public func seed(tokens list: [[UInt32]]) {
    for t in list { pool.insert(t) }
  }

  /// Decides a batch of texts in order; kept ones join the pool.
  public func process(_ texts: [String]) -> [Decision] {
    process(tokens: texts.map(tokens))
  }

  /// - Parameter groups: each text's group (nil: none); a text is compared only
  ///   with pool texts of other groups (seeds have none, so every text meets them).
  public func process(tokens batch: [[UInt32]], groups: [Int32]? = nil) -> [Decision] {
    guard !batch.isEmpty else { return [] }
    let groups = groups ?? [Int32](repeating: RougePool.noGroup, count: batch.count)
    // Phase 1: every candidate against the pool as it was before the batch, in parallel.
    var results = [Nearest](repeating: .none, count: batch.count)
    let pool = self.pool
    let scratches = self.scratches
    let workers = min(threads, batch.count)
    results.withUnsafeMutableBufferPointer { out in
      let out = UncheckedPointer(out)
      DispatchQueue.concurrentPerform(iterations: workers) { w in
        var i = w
        while i < batch.count {
          // First only "is anything above the threshold?" (the shortest prefix);
          // the report floor's wider search is needed only by texts that stay.
          let group = groups[i]
          var found = pool.nearest(batch[i], scratch: scratches[w], atLeast: pool.threshold, group: group)
          if found.score <= pool.threshold, pool.reportFloor < pool.threshold {
            found = pool.nearest(batch[i], scratch: scratches[w], group: group)
          }
          out.buffer[i] = found
          i += workers
        }
      }
    }
    // Phase 2: in order, against what this batch has kept so far.
    let start = pool.count
    let local = RougePool(threshold: pool.threshold, reportFloor: pool.reportFloor, order: pool.order)
    var decisions: [Decision] = []
    decisions.reserveCapacity(batch.count)
    let scratch = scratches[0]
    for (i, tokens) in batch.enumerated() {
      var best = results[i]
      if local.count > 0 {
        var inBatch = local.nearest(
          tokens, scratch: scratch, atLeast: best.score > pool.threshold ? pool.threshold : nil,
          group: groups[i])
        inBatch.item = inBatch.item.map { start + $0 }
        best.consider(inBatch)
      }
      let kept = best.score <= pool.threshold
      if kept {
        pool.insert(tokens, group: groups[i])
        local.insert(tokens, group: groups[i])
      }
      decisions.append(Decision(kept: kept, nearest: best))
    }
    return decisions
  }
}

/// Lets worker threads write disjoint elements of one buffer.
struct UncheckedPointer<T>: @unchecked Sendable {
  let buffer: UnsafeMutableBufferPointer<T>
  init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}

/// A fixed total order of tokens used for prefix filtering: rare tokens first.
/// Any fixed order keeps the filter exact; a rarer-first order makes it fast.
public struct TokenOrder: Sendable {
  /// rank[token] for tokens whose frequency is known; others rank after them,
  /// later-seen before earlier-seen (frequent words tend to be seen first).
  let ranks: [UInt32]

  public init(documentFrequencies: [Int] = []) {
    let order = documentFrequencies.indices.sorted {
      documentFrequencies[$0] != documentFrequencies[$1] ? documentFrequencies[$0] < documentFrequencies[$1] : $0 < $1
    }
    var ranks = [UInt32](repeating: 0, count: documentFrequencies.count)
    for (rank, token) in order.enumerated() { ranks[token] = UInt32(rank) }
    self.ranks = ranks
  }

  @inline(__always)
  func rank(_ token: UInt32) -> UInt64 {
    Int(token) < ranks.count ? UInt64(ranks[Int(token)]) : UInt64(UInt32.max - token)
  }

  /// The token list as a sorted list of multiset elements: (rank, occurrence #).
  func elements(_ tokens: [UInt32]) -> [UInt64] {
    var seen: [UInt32: UInt64] = [:]
    var out: [UInt64] = []
    out.reserveCapacity(tokens.count)
    for t in tokens {
      let k = seen[t, default: 0]
      seen[t] = k + 1
      out.append(rank(t) << 20 | min(k, (1 << 20) - 1))
    }
    out.sort()
    return out
  }
}

/// What a pool says about a candidate: its highest ROUGE-L F against the pool
/// and the pool item that has it.
public struct Nearest: Sendable, Equatable {
  public var score: Double
  /// Index of the nearest pool item, when its score reached the report floor or
  /// the threshold; nil otherwise.
  public var item: Int?
  public static let none = Nearest(score: 0, item: nil)

  /// Keeps the better of the two: the higher score, then a reported item, then the earlier item.
  public mutating func consider(_ other: Nearest) {
    if other.score > score {
      self = other
    } else if other.score == score, let o = other.item, item.map({ o < $0 }) ?? true {
      self = other
    }
  }
}

/// Kept items with an inverted index over their prefixes (exact set-similarity
/// join prefix filtering, adapted to ROUGE-L): a candidate is compared only
/// with items that share a token of its prefix, then ruled out by length and
/// token-multiset overlap (LCS ≤ overlap), and only then scored by a
/// bit-parallel LCS. Decisions equal brute force over every item.
public final class RougePool: @unchecked Sendable {
  // Read concurrently by queries; written only between query phases.
  public let threshold: Double
  /// Nearest neighbours scoring at least this are reported exactly.
  public let reportFloor: Double
  let probe: Double
  let order: TokenOrder
  public private(set) var tokens: [[UInt32]] = []
  var elements: [[UInt64]] = []
  /// Each item's group (`noGroup` when it has none): a query never matches an
  /// item of its own group.
  var groups: [Int32] = []
  public static let noGroup: Int32 = -1
  /// Element → (item, position of the element in the item's sorted list), for
  /// the first elements of each item (its prefix).
  var index: [UInt64: [Posting]] = [:]

  struct Posting {
    var item: Int32
    var position: Int32
  }

  public init(threshold: Double, reportFloor: Double = 0.5, order: TokenOrder = TokenOrder()) {
    self.threshold = threshold
    self.reportFloor = reportFloor
    self.probe = min(threshold, reportFloor)
    self.order = order
  }

  public var count: Int { tokens.count }

  /// Bytes held for the items (tokens, elements, index postings), approximately.
  public var approximateBytes: Int {
    var bytes = 0
    for t in tokens { bytes += t.count * 4 + 32 }
    for e in elements { bytes += e.count * 8 + 32 }
    for (_, list) in index { bytes += list.count * 8 + 48 }
    return bytes
  }

  /// The smallest LCS a pair with an item of `n` tokens needs to reach `probe`
  /// (rounded down where floating point could make it too large: never prunes a match).
  @inline(__always)
  static func alpha(_ n: Int, _ probe: Double) -> Int {
    max(1, Int((probe * Double(n) / (2 - probe) - 1e-7).rounded(.down)) + 1)
  }

  /// The smallest overlap two lists of `m` and `n` tokens need to reach `probe`.
  @inline(__always)
  static func requiredOverlap(_ m: Int, _ n: Int, _ probe: Double) -> Int {
    max(1, Int((probe * Double(m + n) / 2 - 1e-7).rounded(.up)))
  }

  /// Adds an item; `group` (when not `noGroup`) hides it from queries of the same group.
  public func insert(_ itemTokens: [UInt32], group: Int32 = RougePool.noGroup) {
    let id = Int32(tokens.count)
    let e = order.elements(itemTokens)
    tokens.append(itemTokens)
    elements.append(e)
    groups.append(group)
    guard !itemTokens.isEmpty else { return }
    let prefix = itemTokens.count - Self.alpha(itemTokens.count, probe) + 1
    for (position, element) in e.prefix(prefix).enumerated() {
      index[element, default: []].append(Posting(item: id, position: Int32(position)))
    }
  }

  /// Per-thread scratch space for queries.
  public final class Scratch: @unchecked Sendable {  // used by one thread at a time
    var stamps: [UInt32] = []
    var counts: [Int32] = []
    var stamp: UInt32 = 0
    var candidates: [Int32] = []
    /// requiredOverlap(m, n) for the current query, by n.
    var required: [Int32] = []
    public init() {}
  }

  /// The best match of `query` in the pool (read-only; safe to call from
  /// several threads at once, each with its own scratch).
  ///
  /// Candidates come from the prefix index, with the length filter and the
  /// positional filter (an upper bound on the overlap from where the shared
  /// prefix element sits in both lists) applied while probing; survivors are
  /// checked by their full multiset overlap (LCS ≤ overlap) and only then get
  /// a bit-parallel LCS.
  ///
  /// - Parameters:
  ///   - atLeast: only neighbours at or above this similarity need to be
  ///     found (default: the pool's report floor or threshold, whichever is lower).
  ///   - group: items of this group are not candidates (`noGroup`: every item is).
  public func nearest(
    _ query: [UInt32], scratch: Scratch, from firstItem: Int = 0, atLeast: Double? = nil,
    group: Int32 = RougePool.noGroup
  ) -> Nearest {
    let m = query.count
    guard m > 0, !tokens.isEmpty else { return .none }
    let probe = max(self.probe, atLeast ?? self.probe)
    let qe = order.elements(query)
    let prefix = m - Self.alpha(m, probe) + 1
    if scratch.stamps.count < tokens.count {
      scratch.stamps.append(contentsOf: repeatElement(0, count: tokens.count - scratch.stamps.count))
      scratch.counts.append(contentsOf: repeatElement(0, count: tokens.count - scratch.counts.count))
    }
    scratch.stamp &+= 1
    if scratch.stamp == 0 {
      for i in scratch.stamps.indices { scratch.stamps[i] = 0 }
      scratch.stamp = 1
    }
    let stamp = scratch.stamp
    scratch.candidates.removeAll(keepingCapacity: true)
    // Length filter bounds: 2·min(m, n)/(m + n) ≥ probe.
    let minLength = Int((Double(m) * probe / (2 - probe) - 1e-7).rounded(.up))
    let maxLength = probe > 0 ? Int((Double(m) * (2 - probe) / probe + 1e-7).rounded(.down)) : Int.max
    let longest = min(maxLength, 1 << 16)
    scratch.required.removeAll(keepingCapacity: true)
    for n in 0...longest { scratch.required.append(Int32(Self.requiredOverlap(m, n, probe))) }
    let grouped = group != Self.noGroup
    tokens.withUnsafeBufferPointer { tokens in
      groups.withUnsafeBufferPointer { groups in
        scratch.stamps.withUnsafeMutableBufferPointer { stamps in
          scratch.counts.withUnsafeMutableBufferPointer { counts in
            for (i, element) in qe.prefix(prefix).enumerated() {
              guard let posting = index[element] else { continue }
              posting.withUnsafeBufferPointer { posting in
                for entry in posting {
                  let item = Int(entry.item)
                  if item < firstItem { continue }
                  // Same lineage: never a candidate (pruned here, before any counting).
                  if grouped && groups[item] == group { continue }
                  let n = tokens[item].count
                  if n < minLength || n > maxLength { continue }
                  if stamps[item] != stamp {
                    stamps[item] = stamp
                    counts[item] = 0
                    scratch.candidates.append(entry.item)
                  } else if counts[item] < 0 {
                    continue
                  }
                  // Overlap so far + this match + what both lists still have after it.
                  let bound = Int(counts[item]) + 1 + min(m - i - 1, n - Int(entry.position) - 1)
                  if bound < (n <= longest ? Int(scratch.required[n]) : Self.requiredOverlap(m, n, probe)) {
                    counts[item] = -1
                  } else {
                    counts[item] += 1
                  }
                }
              }
            }
          }
        }
      }
    }
    guard !scratch.candidates.isEmpty else { return .none }
    var best = Nearest.none
    var matcher: LCSMatcher?
    for item in scratch.candidates where scratch.counts[Int(item)] > 0 {
      let other = tokens[Int(item)]
      let n = other.count
      // Overlap bound: LCS ≤ |multiset intersection|.
      guard Self.overlap(qe, elements[Int(item)], atLeast: Self.requiredOverlap(m, n, probe)) else { continue }
      if matcher == nil { matcher = LCSMatcher(query) }
      let lcs = matcher!.lcs(other)
      let f = RougeL.fmeasure(lcs: lcs, targetCount: n, predictionCount: m)
      best.consider(Nearest(score: f, item: f >= reportFloor || f > threshold ? Int(item) : nil))
    }
    return best
  }

  /// True when the sorted lists share at least `needed` elements (stops early either way).
  static func overlap(_ a: [UInt64], _ b: [UInt64], atLeast needed: Int) -> Bool {
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        var i = 0, j = 0, n = 0
        while i < a.count && j < b.count {
          if n + min(a.count - i, b.count - j) < needed { return false }
          let x = a[i], y = b[j]
          if x == y {
            n += 1
            if n >= needed { return true }
            i += 1
            j += 1
          } else if x < y {
            i += 1
          } else {
            j += 1
          }
        }
        return n >= needed
      }
    }
  }
}

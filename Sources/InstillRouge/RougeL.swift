/// ROUGE-L exactly as rouge-score 0.1.2 computes it.
public enum RougeL {
  /// F-measure of two token lists, with rouge-score's arithmetic:
  /// P = lcs/len(prediction), R = lcs/len(target), F = 2·P·R/(P+R); 0 when either is empty.
  /// F is symmetric, so the argument order does not matter.
  public static func fmeasure(lcs: Int, targetCount: Int, predictionCount: Int) -> Double {
    guard targetCount > 0, predictionCount > 0 else { return 0 }
    let precision = Double(lcs) / Double(predictionCount)
    let recall = Double(lcs) / Double(targetCount)
    guard precision + recall > 0 else { return 0 }
    return 2 * precision * recall / (precision + recall)
  }

  public static func fmeasure<T: Hashable>(_ target: [T], _ prediction: [T]) -> Double {
    fmeasure(lcs: lcsLength(target, prediction), targetCount: target.count, predictionCount: prediction.count)
  }

  /// Length of the longest common subsequence (classic dynamic programming; the
  /// reference the fast path is tested against).
  public static func lcsLength<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
    guard !a.isEmpty, !b.isEmpty else { return 0 }
    var previous = [Int](repeating: 0, count: b.count + 1)
    var current = previous
    for i in 1...a.count {
      for j in 1...b.count {
        current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], current[j - 1])
      }
      swap(&previous, &current)
    }
    return previous[b.count]
  }
}

/// Bit-parallel LCS (Allison–Dix / Hyyrö) of one fixed token list against many:
/// O(n · ⌈m/64⌉) word operations per comparison instead of O(m · n).
public struct LCSMatcher {
  public let pattern: [UInt32]
  private let words: Int
  /// Distinct tokens of the pattern and, per token, its position bitmask.
  private var slot: [UInt32: Int] = [:]
  private var masks: [UInt64] = []

  public init(_ pattern: [UInt32]) {
    self.pattern = pattern
    words = max(1, (pattern.count + 63) / 64)
    for (i, token) in pattern.enumerated() {
      let s: Int
      if let existing = slot[token] {
        s = existing
      } else {
        s = slot.count
        slot[token] = s
        masks.append(contentsOf: repeatElement(0, count: words))
      }
      masks[s * words + i / 64] |= 1 << UInt64(i % 64)
    }
  }

  /// LCS length of the pattern and `text`.
  public func lcs(_ text: [UInt32]) -> Int {
    let m = pattern.count
    guard m > 0, !text.isEmpty else { return 0 }
    if words == 1 {
      var v = UInt64.max
      for token in text {
        guard let s = slot[token] else { continue }
        let u = v & masks[s]
        v = (v &+ u) | (v & ~u)
      }
      let used: UInt64 = m == 64 ? .max : (1 << UInt64(m)) - 1
      return (~v & used).nonzeroBitCount
    }
    var v = [UInt64](repeating: .max, count: words)
    for token in text {
      guard let s = slot[token] else { continue }
      var carry: UInt64 = 0
      let base = s * words
      for w in 0..<words {
        let u = v[w] & masks[base + w]
        let (sum1, o1) = v[w].addingReportingOverflow(u)
        let (sum2, o2) = sum1.addingReportingOverflow(carry)
        carry = (o1 || o2) ? 1 : 0
        v[w] = sum2 | (v[w] & ~u)
      }
    }
    var count = 0
    for w in 0..<words {
      let bits = w == words - 1 && m % 64 != 0 ? (UInt64(1) << UInt64(m % 64)) - 1 : UInt64.max
      count += (~v[w] & bits).nonzeroBitCount
    }
    return count
  }
}

/// A small, fast, reproducible generator (SplitMix64). Its stream depends only on
/// the pipeline seed, a stream name and an item position. Shuffling and sampling
/// are implemented here rather than taken from the standard library, whose
/// algorithms may change between Swift releases.
public struct SeededRandom: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64, stream: String = "", item: UInt64 = 0) {
    var h: UInt64 = 0xcbf29ce484222325
    for b in stream.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
    state = seed ^ (h &* 0x9E3779B97F4A7C15) ^ (item &* 0xD1B54A32D192ED03)
    _ = next()
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E3779B97F4A7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
    return z ^ (z >> 31)
  }

  /// A sampling seed for a request (31 bits, so every server takes it).
  public mutating func nextSeed() -> Int { Int(next() >> 33) }

  /// A uniform integer in 0..<bound (bound > 0), without modulo bias.
  public mutating func below(_ bound: Int) -> Int {
    precondition(bound > 0)
    let b = UInt64(bound)
    let limit = UInt64.max - UInt64.max % b
    while true {
      let r = next()
      if r < limit { return Int(r % b) }
    }
  }

  /// A uniform double in [0, 1).
  public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

  public mutating func shuffle<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    for i in stride(from: array.count - 1, to: 0, by: -1) {
      let j = below(i + 1)
      if i != j { array.swapAt(i, j) }
    }
  }

  /// `k` distinct elements chosen uniformly, in selection order.
  public mutating func sample<T>(_ array: [T], count k: Int) -> [T] {
    var pool = array
    let n = min(k, pool.count)
    for i in 0..<n {
      let j = i + below(pool.count - i)
      pool.swapAt(i, j)
    }
    return Array(pool.prefix(n))
  }

  public mutating func pick<T>(_ array: [T]) -> T? {
    array.isEmpty ? nil : array[below(array.count)]
  }
}

import Foundation
import InstillCore
import InstillStages

extension Bench {
  /// The exact nearest-neighbour search of `semantic_dedup`: a pool of `pool`
  /// random unit vectors, then `queries` searches; prints searches per second,
  /// the implied greedy-dedup time for N records (all kept, the worst case) and
  /// the pool's memory.
  static func cosine(pool size: Int, dimension: Int, queries: Int) {
    var random = SeededRandom(seed: 5)
    func vector() -> [Float] {
      SemanticDedupStage.Pool.unit((0..<dimension).map { _ in Float(random.unit() * 2 - 1) })
    }
    let pool = SemanticDedupStage.Pool()
    pool.dimension = dimension
    pool.vectors.reserveCapacity(size * dimension)
    for i in 0..<size {
      pool.vectors.append(contentsOf: vector())
      pool.ids.append("\(i)")
      pool.texts.append("")
    }
    let probes = (0..<queries).map { _ in vector() }
    let start = ContinuousClock.now
    var checksum: Float = 0
    for probe in probes { checksum += pool.nearest(probe)?.cosine ?? 0 }
    let seconds = elapsed(start)
    let perSecond = Double(queries) / seconds
    let macs = Double(size) * Double(dimension) * perSecond
    print(
      String(
        format:
          "pool %d × %d: %.1f searches/s (%.2f G multiply-adds/s), %.0f MiB of vectors, peak RSS %.0f MiB (checksum %.3f)",
        size, dimension, perSecond, macs / 1e9, Double(size * dimension * 4) / 1_048_576, peakRSS(), checksum))
    // Greedy dedup of N records all kept: N²/2 comparisons.
    for n in [100_000, 300_000, 1_000_000] {
      let hours = Double(n) * Double(n) / 2 * Double(dimension) / macs / 3600
      print(String(format: "  → %d records, all kept: about %.2f h of search", n, hours))
    }
  }
}

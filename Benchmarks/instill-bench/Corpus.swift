import Foundation
import InstillCore

extension Bench {
  /// Random instructions for the 10M ROUGE-L benchmark: `min`–`max` words drawn from
  /// a vocabulary of `vocab` made-up words, Zipfian (s = 1) or uniform; a fraction
  /// `near` of them are near-duplicates of a recent instruction (1–3 words replaced,
  /// inserted or deleted).
  ///
  ///   realistic:   --vocab 30000 --zipf --near 0.2
  ///   adversarial: --vocab 1095 --near 0   (every text new, rare-token prefixes common)
  static func corpus(count: Int, vocabularySize: Int, zipf: Bool, near: Double, min: Int, max: Int, out: String)
    throws
  {
    var random = SeededRandom(seed: 25)
    let letters = Array("abcdefghijklmnopqrstuvwxyz")
    var vocabulary: [String] = []
    var seen = Set<String>()
    while vocabulary.count < vocabularySize {
      let length = 3 + random.below(7)
      let word = String((0..<length).map { _ in letters[random.below(letters.count)] })
      if seen.insert(word).inserted { vocabulary.append(word) }
    }
    var cumulative: [Double] = []
    var total = 0.0
    for rank in 0..<vocabularySize {
      total += zipf ? 1 / Double(rank + 1) : 1
      cumulative.append(total)
    }
    func word() -> String {
      let x = random.unit() * total
      var lo = 0
      var hi = cumulative.count - 1
      while lo < hi {
        let mid = (lo + hi) / 2
        if cumulative[mid] < x { lo = mid + 1 } else { hi = mid }
      }
      return vocabulary[lo]
    }
    var recent: [[String]] = []
    let writer = try RecordWriter(path: out)
    for i in 0..<count {
      var words: [String]
      if !recent.isEmpty && random.unit() < near {
        words = recent[random.below(recent.count)]
        for _ in 0..<(1 + random.below(3)) {
          let at = random.below(words.count)
          switch random.below(3) {
          case 0: words[at] = word()
          case 1: words.insert(word(), at: at)
          default: if words.count > 2 { words.remove(at: at) }
          }
        }
      } else {
        words = (0..<(min + random.below(max - min + 1))).map { _ in word() }
        if recent.count < 10_000 { recent.append(words) } else { recent[random.below(recent.count)] = words }
      }
      var text = words.joined(separator: " ")
      text = text.prefix(1).uppercased() + text.dropFirst() + "."
      try writer.write(Record(["id": .string("c\(i)"), "instruction": .string(text)]))
    }
    try writer.finish()
    print(
      "wrote \(count) instructions (\(vocabularySize) words, \(zipf ? "Zipfian" : "uniform"), near \(near)) to \(out)")
  }
}

import InstillCore

/// Gopher-style repetition checks on one text (Rae et al. 2021): the share of
/// lines and of paragraphs that repeat an earlier one, and the share of the
/// characters covered by the most frequent word 2-, 3- and 4-gram. Works on
/// UTF-8 bytes: words are split at ASCII white space and punctuation, compared
/// by a 64-bit hash, ASCII letters folded to lower case; the n-gram checks
/// apply from `min_words` words on. Used by the
/// `repetition` filter and by the `documents` stage's segment rules.
public struct Repetition: Sendable, Equatable {
  public var maxDuplicateLines = 0.3
  public var maxDuplicateParagraphs = 0.3
  /// (n, largest share of characters covered by the top n-gram).
  public var maxTopNgram: [Threshold] = [
    .init(n: 2, fraction: 0.20), .init(n: 3, fraction: 0.18), .init(n: 4, fraction: 0.16),
  ]
  /// Texts with fewer words skip the n-gram checks: in a short answer one
  /// repeated phrase ("the sea … the sea") already covers a large share.
  public var minWords = 20

  public struct Threshold: Sendable, Equatable {
    public var n: Int
    public var fraction: Double
    public init(n: Int, fraction: Double) {
      self.n = n
      self.fraction = fraction
    }
  }

  public init() {}

  /// Reads `max_duplicate_lines`, `max_duplicate_paragraphs`, `max_top_2gram` … `max_top_4gram`.
  public mutating func parse(_ map: ConfigMap) throws(InstillError) {
    maxDuplicateLines = try map.double("max_duplicate_lines", default: maxDuplicateLines, in: 0...1)
    maxDuplicateParagraphs = try map.double("max_duplicate_paragraphs", default: maxDuplicateParagraphs, in: 0...1)
    minWords = try map.int("min_words", default: minWords, in: 0...1_000_000)
    maxTopNgram = try maxTopNgram.map { t throws(InstillError) in
      Threshold(n: t.n, fraction: try map.double("max_top_\(t.n)gram", default: t.fraction, in: 0...1))
    }
  }

  /// The first failed check (`duplicate_lines`, `duplicate_paragraphs`,
  /// `repeated_2grams` …), or nil.
  public func check(_ text: String) -> String? {
    let bytes = Array(text.utf8)
    if Self.duplicateShare(bytes, paragraphs: false) > maxDuplicateLines { return "duplicate_lines" }
    if Self.duplicateShare(bytes, paragraphs: true) > maxDuplicateParagraphs { return "duplicate_paragraphs" }
    var hashes: [UInt64] = []
    var lengths: [Int] = []
    var hash: UInt64 = 0xcbf29ce484222325
    var length = 0
    func endWord() {
      if length > 0 {
        hashes.append(hash)
        lengths.append(length)
      }
      hash = 0xcbf29ce484222325
      length = 0
    }
    for byte in bytes {
      if byte < 0x80 && !Self.isWordByte[Int(byte)] {
        endWord()
        continue
      }
      let folded = (0x41...0x5A).contains(byte) ? byte + 32 : byte
      hash = (hash ^ UInt64(folded)) &* 0x100000001b3
      if byte & 0xC0 != 0x80 { length += 1 }  // characters, not continuation bytes
    }
    endWord()
    let totalChars = lengths.reduce(0, +)
    guard totalChars > 0, hashes.count >= minWords else { return nil }
    var counts: [UInt64: Int] = [:]
    for threshold in maxTopNgram where hashes.count >= threshold.n {
      let n = threshold.n
      counts.removeAll(keepingCapacity: true)
      var best = 0
      var bestStart = 0
      for i in 0...(hashes.count - n) {
        var key = UInt64(n)
        for j in i..<(i + n) { key = (key &* 0x9E3779B97F4A7C15) ^ hashes[j] }
        let count = (counts[key] ?? 0) + 1
        counts[key] = count
        if count > best {
          best = count
          bestStart = i
        }
      }
      guard best > 1 else { continue }
      let covered = lengths[bestStart..<(bestStart + n)].reduce(0, +) * best
      if Double(covered) / Double(totalChars) > threshold.fraction { return "repeated_\(n)grams" }
    }
    return nil
  }

  /// The share of non-blank lines (or paragraphs, separated by blank lines) that repeat an earlier one;
  /// 0 for fewer than two.
  static func duplicateShare(_ bytes: [UInt8], paragraphs: Bool) -> Double {
    var units: [ArraySlice<UInt8>] = []
    var start = 0
    var i = 0
    func add(_ end: Int) {
      var a = start
      var b = end
      while a < b, Text.isSpaceByte(bytes[a]) { a += 1 }
      while b > a, Text.isSpaceByte(bytes[b - 1]) { b -= 1 }
      if a < b { units.append(bytes[a..<b]) }
    }
    while i < bytes.count {
      if bytes[i] == 0x0A {
        if !paragraphs {
          add(i)
          start = i + 1
        } else {
          // A blank line (only spaces between two newlines) ends a paragraph.
          var j = i + 1
          while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x09 || bytes[j] == 0x0D { j += 1 }
          if j < bytes.count, bytes[j] == 0x0A {
            add(i)
            start = j + 1
            i = j
          }
        }
      }
      i += 1
    }
    add(bytes.count)
    guard units.count > 1 else { return 0 }
    var distinct = Set<ArraySlice<UInt8>>()
    let duplicates = units.filter { !distinct.insert($0).inserted }.count
    return Double(duplicates) / Double(units.count)
  }

  /// ASCII bytes that belong to words (letters, digits); everything else separates.
  static let isWordByte: [Bool] = (0..<128).map { b in
    (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
  }
}

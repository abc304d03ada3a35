/// The word normalization shared by MinHash signatures and decontamination:
/// text is lowercased, and a word is a maximal run of letters and digits (any
/// script); everything else (punctuation, symbols, white space) separates words.
/// "Don't stop!" and "don t  STOP" are the same three words.
///
/// Hashes are FNV-1a over the word's Unicode scalars followed by a 64-bit
/// finalizer: fixed functions, so a signature computed by one task of a job array
/// matches one computed by another, on any machine and Swift release.
public enum Words {
  static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII {
      let v = s.value
      return (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A)
    }
    return s.properties.isAlphabetic || s.properties.numericType != nil
  }

  /// The hash of each normalized word, in order.
  public static func hashes(_ text: String) -> [UInt64] {
    var out: [UInt64] = []
    out.reserveCapacity(text.utf8.count / 5)
    var h: UInt64 = 0
    var inWord = false
    for scalar in text.lowercased().unicodeScalars {
      if isWordScalar(scalar) {
        if !inWord {
          h = 0xcbf2_9ce4_8422_2325
          inWord = true
        }
        h = (h ^ UInt64(scalar.value)) &* 0x100_0000_01b3
      } else if inWord {
        out.append(mix(h))
        inWord = false
      }
    }
    if inWord { out.append(mix(h)) }
    return out
  }

  /// The normalized words themselves (for examples in statistics).
  public static func words(_ text: String) -> [String] {
    var out: [String] = []
    var word = String.UnicodeScalarView()
    for scalar in text.lowercased().unicodeScalars {
      if isWordScalar(scalar) {
        word.append(scalar)
      } else if !word.isEmpty {
        out.append(String(word))
        word = String.UnicodeScalarView()
      }
    }
    if !word.isEmpty { out.append(String(word)) }
    return out
  }

  /// The hash of `count` consecutive word hashes starting at `start`.
  @inline(__always)
  public static func ngram(_ words: [UInt64], _ start: Int, _ count: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
    for i in start..<(start + count) { h = (h ^ words[i]) &* 0xBF58_476D_1CE4_E5B9 &+ 0x94D0_49BB_1331_11EB }
    return mix(h)
  }

  /// The distinct hashes of every `n`-word shingle, sorted; a text of fewer
  /// than `n` words (but at least one) is one shingle of all its words.
  public static func shingles(_ text: String, n: Int) -> [UInt64] {
    let words = hashes(text)
    if words.isEmpty { return [] }
    if words.count < n { return [ngram(words, 0, words.count)] }
    var set = Set<UInt64>(minimumCapacity: words.count - n + 1)
    for i in 0...(words.count - n) { set.insert(ngram(words, i, n)) }
    return set.sorted()
  }

  /// SplitMix64's finalizer.
  @inline(__always)
  public static func mix(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// |a ∩ b| / |a ∪ b| of two sorted, distinct hash lists.
  public static func jaccard(_ a: [UInt64], _ b: [UInt64]) -> Double {
    if a.isEmpty && b.isEmpty { return 1 }
    var i = 0
    var j = 0
    var common = 0
    while i < a.count && j < b.count {
      if a[i] == b[j] {
        common += 1
        i += 1
        j += 1
      } else if a[i] < b[j] {
        i += 1
      } else {
        j += 1
      }
    }
    return Double(common) / Double(a.count + b.count - common)
  }
}

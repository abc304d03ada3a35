/// How text becomes ROUGE tokens.
public enum RougeTokenizer: String, Sendable, CaseIterable {
  /// rouge-score 0.1.2's default: lowercase, every run of characters outside
  /// `[a-z0-9]` separates tokens (so non-ASCII letters vanish), no stemming.
  case rougeScore = "rouge_score"
  /// Opt-in for non-English data: letters and digits of any script form words;
  /// each CJK ideograph, kana or hangul syllable is a token of its own.
  /// Not compatible with rouge-score.
  case unicode

  /// The tokens of `text`.
  public func tokens(_ text: String) -> [String] {
    var out: [String] = []
    forEachToken(text) { out.append(String(decoding: $0, as: UTF8.self)) }
    return out
  }

  /// Calls `body` with each token's UTF-8 bytes (valid during the call only).
  public func forEachToken(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
    var current: [UInt8] = []
    current.reserveCapacity(32)
    func flush() {
      if !current.isEmpty {
        current.withUnsafeBufferPointer(body)
        current.removeAll(keepingCapacity: true)
      }
    }
    switch self {
    case .rougeScore:
      for scalar in text.unicodeScalars {
        let v = scalar.value
        if v < 0x80 {
          let b = UInt8(v)
          if b >= 0x61 && b <= 0x7A || b >= 0x30 && b <= 0x39 {
            current.append(b)
          } else if b >= 0x41 && b <= 0x5A {
            current.append(b + 0x20)
          } else {
            flush()
          }
        } else {
          // Python lowercases first: a few non-ASCII letters lowercase to ASCII
          // (KELVIN SIGN → k, İ → i + combining dot). Everything else separates.
          for lower in scalar.properties.lowercaseMapping.unicodeScalars {
            let l = lower.value
            if l >= 0x61 && l <= 0x7A || l >= 0x30 && l <= 0x39 {
              current.append(UInt8(l))
            } else {
              flush()
            }
          }
        }
      }
    case .unicode:
      for scalar in text.unicodeScalars {
        if Self.isSingleToken(scalar) {
          flush()
          for b in String(scalar).lowercased().utf8 { current.append(b) }
          flush()
        } else if scalar.properties.isAlphabetic || scalar.properties.numericType != nil
          || scalar.properties.generalCategory == .nonspacingMark && !current.isEmpty
        {
          for b in String(scalar).lowercased().utf8 { current.append(b) }
        } else {
          flush()
        }
      }
    }
    flush()
  }

  /// Scripts written without spaces between words: one token per character.
  static func isSingleToken(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x3040...0x30FF,  // hiragana, katakana
      0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF,  // CJK ideographs
      0x20000...0x2FA1F,  // CJK extensions
      0xAC00...0xD7AF:  // hangul syllables
      return true
    default:
      return false
    }
  }
}

/// Interns token strings as dense integer ids.
public final class Vocabulary: @unchecked Sendable {
  // Mutated only by the single thread that interns; read-only afterwards.
  private var ids: [String: UInt32] = [:]
  public private(set) var count: UInt32 = 0

  public init() {}

  public func id(_ token: UnsafeBufferPointer<UInt8>) -> UInt32 {
    let key = String(decoding: token, as: UTF8.self)
    if let id = ids[key] { return id }
    let id = count
    ids[key] = id
    count += 1
    return id
  }

  public func ids(_ text: String, tokenizer: RougeTokenizer) -> [UInt32] {
    var out: [UInt32] = []
    tokenizer.forEachToken(text) { out.append(id($0)) }
    return out
  }
}

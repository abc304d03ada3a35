import InstillCore

/// Fast text helpers that work on Unicode scalars with an ASCII fast path
/// (iterating `Character`s costs grapheme breaking on every step).
public enum Text {
  /// ASCII white space within a line (space, tab, CR, VT, FF; not LF), for byte-level scanners.
  @inline(__always)
  public static func isSpaceByte(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0B || byte == 0x0C
  }

  /// Python's `str.isspace()` per scalar: ASCII whitespace, the separators
  /// U+001C–U+001F, and Unicode white space.
  @inline(__always)
  public static func isSpace(_ s: Unicode.Scalar) -> Bool {
    let v = s.value
    if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) || (v >= 0x1C && v <= 0x1F) }
    return v == 0x85 || v == 0xA0 || s.properties.isWhitespace
  }

  /// Runs of white space (newlines too) as one space, none at the ends.
  public static func collapsingWhitespace(_ text: String) -> String {
    text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
  }

  /// The text without white space at either end.
  public static func trimmed(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isSpace($0) }),
      let last = scalars.lastIndex(where: { !isSpace($0) })
    else { return "" }
    return String(scalars[first...last])
  }

  /// A number as thresholds and counters name it: 4 for 4.0, 4.5 for 4.5.
  public static func number(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }

  /// True when the text is empty or only white space.
  public static func isBlank(_ text: String) -> Bool {
    for s in text.unicodeScalars where !isSpace(s) { return false }
    return true
  }

  /// Words as Python's `str.split()` counts them.
  public static func wordCount(_ text: String) -> Int {
    var count = 0
    var inWord = false
    for s in text.unicodeScalars {
      if isSpace(s) {
        inWord = false
      } else if !inWord {
        inWord = true
        count += 1
      }
    }
    return count
  }

  /// A regex `\w` scalar: letter, digit (any script) or underscore.
  @inline(__always)
  public static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
    let v = s.value
    if v < 0x80 {
      return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
    }
    return s.properties.isAlphabetic || s.properties.numericType != nil
  }
}

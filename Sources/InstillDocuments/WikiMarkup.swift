import InstillCore
import InstillFilters

/// MediaWiki markup reduced to plain text, split at `== headings ==`:
/// templates, tables, references, comments, files, categories, interlanguage
/// links and galleries dropped; links replaced by their text; bold and italic
/// quotes and other HTML tags removed (their text kept); a few common entities
/// decoded. Works on UTF-8 bytes: every marker is ASCII.
public enum WikiMarkup {
  /// Tags dropped with their content.
  static let droppedTags: [[UInt8]] = [
    "ref", "gallery", "math", "timeline", "imagemap", "references", "score",
    "hiero", "chem", "syntaxhighlight", "source", "graph", "mapframe",
  ].map { Array($0.utf8) }
  /// Link namespaces dropped with the link (lower-case).
  static let droppedNamespaces: Set<String> = [
    "file", "image", "category", "media", "wikipedia", "wp", "template",
    "help", "portal", "special", "user", "talk", "draft", "module",
  ]

  public static func sections(_ wikitext: [UInt8]) -> [Document.Section] {
    let plain = reduce(wikitext[...])
    var sections: [Document.Section] = []
    var current = ""
    var lines: [String] = []
    func flush() {
      let text = TextCleanup.normalize(lines.joined(separator: "\n"))
      if !text.isEmpty || !current.isEmpty { sections.append(.init(heading: current, text: text)) }
      lines.removeAll()
    }
    for raw in plain.split(separator: 0x0A, omittingEmptySubsequences: false) {
      var line = raw
      while let last = line.last, last == 0x20 || last == 0x09 || last == 0x0D { line.removeLast() }
      if let title = heading(of: line) {
        flush()
        current = title
        continue
      }
      if line.starts(with: Array("----".utf8)) { continue }
      // List and indentation markers: * # : ;
      while let first = line.first, first == 0x2A || first == 0x23 || first == 0x3A || first == 0x3B {
        line.removeFirst()
      }
      let text = Text.trimmed(String(decoding: line, as: UTF8.self))
      if text.hasPrefix("__"), text.hasSuffix("__") { continue }  // __TOC__, __NOTOC__
      lines.append(text)
    }
    flush()
    return sections
  }

  /// `== Title ==` (levels 1 to 6) → "Title".
  static func heading(of line: ArraySlice<UInt8>) -> String? {
    let open = line.prefix(while: { $0 == 0x3D }).count
    let close = line.reversed().prefix(while: { $0 == 0x3D }).count
    guard open >= 1, open <= 6, close == open, line.count > open * 2 else { return nil }
    let inner = line.dropFirst(open).dropLast(close)
    let text = Text.trimmed(String(decoding: inner, as: UTF8.self))
    return text.isEmpty ? nil : text
  }

  /// Removes the nested and inline markup; keeps line structure.
  static func reduce(_ s: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(s.count)
    var i = s.startIndex
    while i < s.endIndex {
      if let next = markup(s, at: i, into: &out) {
        i = next
      } else {
        out.append(s[i])
        i += 1
      }
    }
    return out
  }

  /// When markup starts at `i`: appends the text it shows (a link's label, a
  /// decoded entity) to `out` and returns where it ends; nil for plain text.
  static func markup(_ s: ArraySlice<UInt8>, at i: Int, into out: inout [UInt8]) -> Int? {
    switch s[i] {
    case 0x3C:  // <
      if starts(s, at: i, with: "<!--") { return find("-->", in: s, from: i + 4).map { $0 + 3 } ?? s.endIndex }
      return droppedTagEnd(s, at: i) ?? htmlTagEnd(s, at: i)
    case 0x7B:  // {
      if starts(s, at: i, with: "{{") { return matching(s, from: i, open: 0x7B, close: 0x7D) }
      if starts(s, at: i, with: "{|") && (i == s.startIndex || s[i - 1] == 0x0A) { return tableEnd(s, from: i) }
    case 0x5B:  // [
      return link(s, at: i, into: &out)
    case 0x27:  // ' — bold and italic
      let run = s[i...].prefix(while: { $0 == 0x27 }).count
      if run >= 2 { return i + run }
    case 0x26:  // &
      if let (decoded, length) = entity(s, at: i) {
        out.append(contentsOf: decoded)
        return i + length
      }
    default:
      break
    }
    return nil
  }

  /// An internal link `[[target|label]]` (its label) or an external one
  /// `[url label]` (its label, nothing when it has none).
  static func link(_ s: ArraySlice<UInt8>, at i: Int, into out: inout [UInt8]) -> Int? {
    if starts(s, at: i, with: "[[") {
      let close = matching(s, from: i, open: 0x5B, close: 0x5D)
      out.append(contentsOf: linkText(s[(i + 2)..<max(i + 2, close - 2)]))
      return close
    }
    guard ["[http://", "[https://", "[//", "[ftp://"].contains(where: { starts(s, at: i, with: $0) }),
      let close = s[i...].prefix(2000).firstIndex(where: { $0 == 0x5D || $0 == 0x0A }), s[close] == 0x5D
    else {
      return nil
    }
    if let space = s[i..<close].firstIndex(of: 0x20) {
      out.append(contentsOf: reduce(s[(space + 1)..<close]))
    }
    return close + 1
  }

  static func starts(_ s: ArraySlice<UInt8>, at j: Int, with literal: String) -> Bool {
    var k = j
    for b in literal.utf8 {
      guard k < s.endIndex, s[k] == b else { return false }
      k += 1
    }
    return true
  }

  static func find(_ literal: String, in s: ArraySlice<UInt8>, from start: Int) -> Int? {
    let bytes = Array(literal.utf8)
    var i = start
    while i + bytes.count <= s.endIndex {
      if s[i] == bytes[0], s[i..<(i + bytes.count)].elementsEqual(bytes) { return i }
      i += 1
    }
    return nil
  }

  static func findCaseless(_ bytes: [UInt8], in s: ArraySlice<UInt8>, from start: Int) -> Int? {
    var i = start
    while i + bytes.count <= s.endIndex {
      if lower(s[i]) == bytes[0], zip(s[i..<(i + bytes.count)], bytes).allSatisfy({ lower($0) == $1 }) { return i }
      i += 1
    }
    return nil
  }

  static func lower(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b + 32 : b }

  /// The index after the `open open … close close` group starting at `start`
  /// (nested groups counted); the end of the text when it never closes.
  static func matching(_ s: ArraySlice<UInt8>, from start: Int, open: UInt8, close: UInt8) -> Int {
    var depth = 0
    var i = start
    while i + 1 < s.endIndex {
      if s[i] == open && s[i + 1] == open {
        depth += 1
        i += 2
      } else if s[i] == close && s[i + 1] == close {
        depth -= 1
        i += 2
        if depth == 0 { return i }
      } else {
        i += 1
      }
    }
    return s.endIndex
  }

  /// After the `|}` line that closes the table starting at `start` (nested tables counted).
  static func tableEnd(_ s: ArraySlice<UInt8>, from start: Int) -> Int {
    var depth = 0
    var i = start
    while i < s.endIndex {
      let lineEnd = s[i...].firstIndex(of: 0x0A) ?? s.endIndex
      let line = s[i..<lineEnd].drop(while: { $0 == 0x20 || $0 == 0x09 })
      if line.starts(with: [0x7B, 0x7C]) { depth += 1 }
      if line.starts(with: [0x7C, 0x7D]) {
        depth -= 1
        if depth == 0 { return min(lineEnd + 1, s.endIndex) }
      }
      i = lineEnd + 1
    }
    return s.endIndex
  }

  /// `<ref …>…</ref>`, `<ref … />` and the other dropped tags: the index after them.
  static func droppedTagEnd(_ s: ArraySlice<UInt8>, at i: Int) -> Int? {
    for tag in droppedTags {
      let nameEnd = i + 1 + tag.count
      guard nameEnd < s.endIndex, zip(s[(i + 1)..<nameEnd], tag).allSatisfy({ lower($0) == $1 }) else { continue }
      let after = s[nameEnd]
      guard after == 0x3E || after == 0x20 || after == 0x2F || after == 0x09 || after == 0x0A else { continue }
      guard let close = s[nameEnd...].firstIndex(of: 0x3E) else { return s.endIndex }
      if s[close - 1] == 0x2F { return close + 1 }  // self-closing
      let endTag = Array("</".utf8) + tag
      guard let found = findCaseless(endTag, in: s, from: close + 1) else { return s.endIndex }
      return s[found...].firstIndex(of: 0x3E).map { $0 + 1 } ?? s.endIndex
    }
    return nil
  }

  /// Any other HTML-like tag (`<br/>`, `<small>`, `</span>`): the index after it.
  static func htmlTagEnd(_ s: ArraySlice<UInt8>, at i: Int) -> Int? {
    guard i + 1 < s.endIndex else { return nil }
    let next = s[i + 1]
    let letter = (0x41...0x5A).contains(next) || (0x61...0x7A).contains(next)
    guard letter || next == 0x2F else { return nil }
    guard let close = s[(i + 1)...].prefix(300).firstIndex(where: { $0 == 0x3E || $0 == 0x0A || $0 == 0x3C }),
      s[close] == 0x3E
    else { return nil }
    return close + 1
  }

  /// The visible text of `[[inner]]`: nothing for files, categories and other
  /// namespaces and interlanguage links; the label after the last `|`, else the target.
  static func linkText(_ inner: ArraySlice<UInt8>) -> [UInt8] {
    var target = inner
    if target.first == 0x3A {
      target = target.dropFirst()
    }  // [[:Category:X]] links to the page
    else if let colon = target.prefix(40).firstIndex(of: 0x3A) {
      let prefix = Text.trimmed(String(decoding: target[target.startIndex..<colon], as: UTF8.self).lowercased())
      if droppedNamespaces.contains(prefix) { return [] }
      let isLanguage = (2...3).contains(prefix.count) && prefix.allSatisfy({ $0.isASCII && $0.isLowercase })
      if isLanguage { return [] }
    }
    // Nested links inside a label ([[a|see [[b]]]]) are reduced too.
    let reduced = reduce(target)
    if let bar = reduced.lastIndex(of: 0x7C) {
      return Array(reduced[(bar + 1)...])
    }
    if let hash = reduced.firstIndex(of: 0x23), hash > 0 {  // [[Page#Section]]
      return Array(reduced[..<hash])
    }
    return reduced
  }

  static let entities: [(String, String)] = [
    ("&nbsp;", " "), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&ndash;", "–"),
    ("&mdash;", "—"), ("&minus;", "−"), ("&times;", "×"), ("&hellip;", "…"), ("&#39;", "'"), ("&apos;", "'"),
  ]

  static func entity(_ s: ArraySlice<UInt8>, at i: Int) -> ([UInt8], Int)? {
    for (name, value) in entities {
      let bytes = Array(name.utf8)
      if i + bytes.count <= s.endIndex, s[i..<(i + bytes.count)].elementsEqual(bytes) {
        return (Array(value.utf8), bytes.count)
      }
    }
    return nil
  }
}

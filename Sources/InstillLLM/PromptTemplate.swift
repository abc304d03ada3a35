import InstillCore

/// A prompt with `{field}` placeholders filled from a record (`{{` and `}}` for
/// literal braces).
public struct PromptTemplate: Sendable, Hashable {
  enum Part: Sendable, Hashable {
    case text(String)
    case field(String)
  }
  let parts: [Part]
  public let source: String

  public init(_ source: String) throws(InstillError) {
    self.source = source
    var parts: [Part] = []
    var text = ""
    var chars = Array(source)[...]
    while let c = chars.popFirst() {
      if c == "{" {
        if chars.first == "{" {
          chars.removeFirst()
          text.append("{")
          continue
        }
        guard let close = chars.firstIndex(of: "}") else {
          throw InstillError.input("unclosed '{' in the template \"\(source)\"")
        }
        let name = String(chars[chars.startIndex..<close])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
          throw InstillError.input("bad placeholder {\(name)} in the template (use {field}, or {{ for a literal brace)")
        }
        if !text.isEmpty {
          parts.append(.text(text))
          text = ""
        }
        parts.append(.field(name))
        chars = chars[chars.index(after: close)...]
      } else if c == "}" {
        if chars.first == "}" { chars.removeFirst() }
        text.append("}")
      } else {
        text.append(c)
      }
    }
    if !text.isEmpty { parts.append(.text(text)) }
    self.parts = parts
  }

  public var fields: [String] {
    parts.compactMap { if case .field(let f) = $0 { return f } else { return nil } }
  }

  /// The filled prompt, or the first field the record lacks. `{prompt}`, when
  /// the record has no `prompt` field, is the instruction with its input (if
  /// any) after a blank line: what a user would have asked.
  public func render(_ record: Record) -> Result<String, MissingField> {
    var out = ""
    for part in parts {
      switch part {
      case .text(let t): out += t
      case .field(let f):
        switch record[f] {
        case .string(let s)?: out += s
        case nil where f == "prompt" && record["instruction"] != nil:
          out += record.prompt
        case nil, .null?: return .failure(MissingField(name: f))
        case let value?: out += JSONWriter.string(value)
        }
      }
    }
    return .success(out)
  }

  public struct MissingField: Error, Sendable { public let name: String }
}

/// Why a JSON text could not be read, and at which byte of it.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
  public var message: String
  public var offset: Int
  public var description: String { "\(message) (at byte \(offset + 1))" }
}

/// A strict, fast JSON parser over UTF-8 bytes (RFC 8259). Strings must be valid
/// UTF-8; duplicate object keys are rejected.
public enum JSONParser {
  public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
    try parse(Array(text.utf8))
  }

  public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> JSONValue {
    var reader = Reader(bytes: bytes)
    reader.skipSpace()
    let value = try reader.value(depth: 0)
    reader.skipSpace()
    if reader.index != bytes.count {
      throw JSONSyntaxError(message: "unexpected text after the JSON value", offset: reader.index)
    }
    return value
  }

  /// Parses a top-level JSON array, returning each element with the byte offset
  /// where it starts (so that errors about an element can name its line).
  public static func parseArrayElements(_ bytes: [UInt8]) throws(JSONSyntaxError) -> [(value: JSONValue, offset: Int)] {
    let result: Result<[(value: JSONValue, offset: Int)], JSONSyntaxError> = bytes.withUnsafeBufferPointer { b in
      do throws(JSONSyntaxError) {
        var reader = Reader(bytes: b)
        reader.skipSpace()
        guard reader.index < b.count, b[reader.index] == UInt8(ascii: "[") else {
          throw JSONSyntaxError(message: "expected a JSON array", offset: reader.index)
        }
        reader.index += 1
        var items: [(value: JSONValue, offset: Int)] = []
        reader.skipSpace()
        if reader.index < b.count, b[reader.index] == UInt8(ascii: "]") {
          reader.index += 1
        } else {
          while true {
            reader.skipSpace()
            let offset = reader.index
            items.append((try reader.value(depth: 1), offset))
            reader.skipSpace()
            guard reader.index < b.count else { throw reader.fail("unexpected end of JSON inside an array") }
            if b[reader.index] == UInt8(ascii: ",") {
              reader.index += 1
              continue
            }
            if b[reader.index] == UInt8(ascii: "]") {
              reader.index += 1
              break
            }
            throw reader.fail("expected ',' or ']' in an array")
          }
        }
        reader.skipSpace()
        if reader.index != b.count { throw reader.fail("unexpected text after the JSON value") }
        return .success(items)
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  /// The 1-based line of a byte offset.
  public static func line(of offset: Int, in bytes: [UInt8]) -> Int {
    var line = 1
    for i in 0..<min(offset, bytes.count) where bytes[i] == 0x0A { line += 1 }
    return line
  }

  public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
    let result: Result<JSONValue, JSONSyntaxError> = bytes.withUnsafeBufferPointer { b in
      do throws(JSONSyntaxError) { return .success(try parse(b)) } catch { return .failure(error) }
    }
    return try result.get()
  }
}

private struct Reader {
  let bytes: UnsafeBufferPointer<UInt8>
  var index = 0
  var scratch: [UInt8] = []

  init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

  func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: index) }

  mutating func skipSpace() {
    while index < bytes.count {
      switch bytes[index] {
      case 0x20, 0x0A, 0x0D, 0x09: index += 1
      default: return
      }
    }
  }

  mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth < 512 else { throw fail("nesting deeper than 512 levels") }
    guard index < bytes.count else { throw fail("unexpected end of JSON") }
    switch bytes[index] {
    case UInt8(ascii: "{"): return .object(try object(depth: depth))
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"):
      try literal("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try literal("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try literal("null")
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
    default: throw fail("unexpected character '\(printable(bytes[index]))'")
    }
  }

  func printable(_ byte: UInt8) -> String {
    byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
  }

  mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
    let count = word.utf8CodeUnitCount
    guard index + count <= bytes.count else { throw fail("unexpected end of JSON") }
    for i in 0..<count where bytes[index + i] != word.utf8Start[i] {
      throw fail("invalid literal")
    }
    index += count
  }

  mutating func number() throws(JSONSyntaxError) -> JSONValue {
    let start = index
    if bytes[index] == UInt8(ascii: "-") { index += 1 }
    guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
    if bytes[index] == UInt8(ascii: "0") {
      index += 1
    } else {
      while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
    if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
      index += 1
      guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
      while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
    if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
      index += 1
      if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
      guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
      while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
    return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
  }

  func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

  mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    index += 1
    var items: [JSONValue] = []
    skipSpace()
    if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
      index += 1
      return .array(items)
    }
    while true {
      skipSpace()
      items.append(try value(depth: depth + 1))
      skipSpace()
      guard index < bytes.count else { throw fail("unexpected end of JSON inside an array") }
      if bytes[index] == UInt8(ascii: ",") {
        index += 1
        continue
      }
      if bytes[index] == UInt8(ascii: "]") {
        index += 1
        return .array(items)
      }
      throw fail("expected ',' or ']' in an array")
    }
  }

  mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONObject {
    index += 1
    var object = JSONObject()
    skipSpace()
    if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
      index += 1
      return object
    }
    while true {
      skipSpace()
      guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
        throw fail("expected a string key in an object")
      }
      let keyStart = index
      let key = try string()
      if object[key] != nil {
        throw JSONSyntaxError(message: "duplicate key \"\(key)\"", offset: keyStart)
      }
      skipSpace()
      guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
        throw fail("expected ':' after an object key")
      }
      index += 1
      skipSpace()
      object.appendUnchecked(key, try value(depth: depth + 1))
      skipSpace()
      guard index < bytes.count else { throw fail("unexpected end of JSON inside an object") }
      if bytes[index] == UInt8(ascii: ",") {
        index += 1
        continue
      }
      if bytes[index] == UInt8(ascii: "}") {
        index += 1
        return object
      }
      throw fail("expected ',' or '}' in an object")
    }
  }

  mutating func string() throws(JSONSyntaxError) -> String {
    index += 1
    let start = index
    // Fast path: no escapes.
    while index < bytes.count {
      let b = bytes[index]
      if b == UInt8(ascii: "\"") {
        let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
        index += 1
        return try decode(slice, at: start)
      }
      if b == UInt8(ascii: "\\") { break }
      if b < 0x20 { throw fail("control character inside a string") }
      index += 1
    }
    scratch.removeAll(keepingCapacity: true)
    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
    while index < bytes.count {
      let b = bytes[index]
      if b == UInt8(ascii: "\"") {
        index += 1
        let result = scratch.withUnsafeBufferPointer { String(validating: $0, as: UTF8.self) }
        guard let result else { throw JSONSyntaxError(message: "invalid UTF-8 in a string", offset: start) }
        return result
      }
      if b < 0x20 { throw fail("control character inside a string") }
      if b != UInt8(ascii: "\\") {
        scratch.append(b)
        index += 1
        continue
      }
      index += 1
      guard index < bytes.count else { break }
      let e = bytes[index]
      index += 1
      switch e {
      case UInt8(ascii: "\""): scratch.append(0x22)
      case UInt8(ascii: "\\"): scratch.append(0x5C)
      case UInt8(ascii: "/"): scratch.append(0x2F)
      case UInt8(ascii: "b"): scratch.append(0x08)
      case UInt8(ascii: "f"): scratch.append(0x0C)
      case UInt8(ascii: "n"): scratch.append(0x0A)
      case UInt8(ascii: "r"): scratch.append(0x0D)
      case UInt8(ascii: "t"): scratch.append(0x09)
      case UInt8(ascii: "u"): try appendUnicodeEscape()
      default:
        throw fail("invalid escape '\\\(printable(e))'")
      }
    }
    throw fail("unterminated string")
  }

  /// The scalar of a `\uXXXX` escape (the part after `\u`), joining a
  /// surrogate pair, appended to `scratch` as UTF-8.
  mutating func appendUnicodeEscape() throws(JSONSyntaxError) {
    var code = try hex4()
    if (0xD800..<0xDC00).contains(code) {
      guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
        throw fail("unpaired surrogate in \\u escape")
      }
      index += 2
      let low = try hex4()
      guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
    } else if (0xDC00..<0xE000).contains(code) {
      throw fail("unpaired surrogate in \\u escape")
    }
    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
    scratch.append(contentsOf: Array(String(Character(scalar)).utf8))
  }

  mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
    guard index + 4 <= bytes.count else { throw fail("truncated \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let b = bytes[index]
      let digit: UInt8
      switch b {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
      default: throw fail("invalid \\u escape")
      }
      value = value << 4 | UInt32(digit)
      index += 1
    }
    return value
  }

  func decode(_ slice: UnsafeBufferPointer<UInt8>, at offset: Int) throws(JSONSyntaxError) -> String {
    // ASCII is by far the common case and needs no validation pass.
    var ascii = true
    for b in slice where b >= 0x80 {
      ascii = false
      break
    }
    if ascii { return String(decoding: slice, as: UTF8.self) }
    guard let s = String(validating: slice, as: UTF8.self) else {
      throw JSONSyntaxError(message: "invalid UTF-8 in a string", offset: offset)
    }
    return s
  }
}

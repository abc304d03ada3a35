import InstillCore
import InstillTestSupport
import Testing

struct JSONTests {
  @Test func roundTripKeepsKeyOrderAndNumberText() async throws {
    let text = #"{"z":1,"a":[true,false,null],"m":{"x":"y"},"n":-0.50,"e":1E+3,"s":"tab\tquote\"slash\\ é 日本 😀"}"#
    let value = try JSONParser.parse(text)
    #expect(
      JSONWriter.string(value) == text.replacingOccurrences(of: "\t", with: "\\t") || JSONWriter.string(value) == text)
    #expect(value.objectValue?.keys == ["z", "a", "m", "n", "e", "s"])
    #expect(value.objectValue?["n"] == .number("-0.50"))
    // Writing what we read gives the same bytes again.
    let again = try JSONParser.parse(JSONWriter.string(value))
    #expect(again == value)
  }

  @Test func escapesControlCharactersAndDecodesUnicodeEscapes() async throws {
    let value = try JSONParser.parse(#""\u00e9\ud83d\ude00\n\u0001""#)
    #expect(value.stringValue == "é😀\n\u{01}")
    #expect(JSONWriter.string(value) == "\"é😀\\n\\u0001\"")
  }

  @Test(arguments: [
    ("{\"a\":1,}", "expected a string key"),
    ("{\"a\":1 \"b\":2}", "expected ',' or '}'"),
    ("{\"a\":1,\"a\":2}", "duplicate key"),
    ("[1,2", "unexpected end"),
    ("\"abc", "unterminated string"),
    ("{\"a\":01}", "expected ','"),
    ("\"\\ud800\"", "surrogate"),
    ("{} x", "unexpected text"),
  ])
  func rejectsMalformedJSON(text: String, expected: String) {
    do {
      _ = try JSONParser.parse(text)
      Issue.record("accepted \(text)")
    } catch {
      #expect(error.message.contains(expected), "\(text): \(error.message)")
    }
  }

  @Test func rejectsInvalidUTF8InStrings() {
    let bytes: [UInt8] = Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(bytes) }
  }

  @Test func arrayElementsCarryTheirOffsets() async throws {
    let bytes = Array("[\n {\"a\":1},\n {\"a\":2}\n]".utf8)
    let items = try JSONParser.parseArrayElements(bytes)
    #expect(items.count == 2)
    #expect(JSONParser.line(of: items[1].offset, in: bytes) == 3)
  }

  @Test func sha256MatchesKnownVectors() {
    #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    let long = String(repeating: "a", count: 1_000)
    #expect(SHA256.hex(long) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
  }

  @Test func seededRandomIsReproducibleAndVariesByItem() {
    var a = SeededRandom(seed: 42, stream: "x", item: 3)
    var b = SeededRandom(seed: 42, stream: "x", item: 3)
    var c = SeededRandom(seed: 42, stream: "x", item: 4)
    let sa = (0..<5).map { _ in a.next() }
    #expect(sa == (0..<5).map { _ in b.next() })
    #expect(sa != (0..<5).map { _ in c.next() })
    var r = SeededRandom(seed: 1)
    var items = Array(0..<50)
    r.shuffle(&items)
    #expect(items.sorted() == Array(0..<50))
    #expect(items != Array(0..<50))
    let sample = r.sample(Array(0..<10), count: 4)
    #expect(Set(sample).count == 4)
  }
}

import Foundation
import InstillCore
import InstillFilters
import InstillTestSupport
import Testing

/// Every filter of the library on real examples, including non-English and empty text.
struct FilterLibraryTests {
  func filter(_ yaml: String) throws -> any RecordFilter {
    let node = try ConfigNode.parse(yaml: "- " + yaml, file: "f.yaml", what: "filter list")
    return try FilterCatalog.standard.parse(try node.list())[0]
  }

  func record(instruction: String = "", input: String = "", output: String = "", meta: JSONObject = [:]) -> Record {
    var r = Record()
    r["instruction"] = .string(instruction)
    r["input"] = .string(input)
    r["output"] = .string(output)
    r.meta = meta
    return r
  }

  @Test func startsWithAndEndsWith() throws {
    let sure = try filter("{type: starts_with, values: [\"Sure\", \"Certainly!\"]}")
    #expect(sure.check(record(output: "  sure, here is the poem:")) == "starts_with:Sure")
    #expect(sure.check(record(output: "Certainly! Paris.")) == "starts_with:Certainly!")
    #expect(sure.check(record(output: "Surely not.")) == "starts_with:Sure")  // a prefix, by design
    #expect(sure.check(record(output: "Paris is the capital.")) == nil)
    #expect(sure.check(record(output: "")) == nil)
    let question = try filter("{type: ends_with, field: instruction, values: [\"?\", \"？\"], action: require}")
    #expect(question.check(record(instruction: "Why is the sky blue?")) == nil)
    #expect(question.check(record(instruction: "天空为什么是蓝色的？")) == nil)
    #expect(question.check(record(instruction: "Describe the sky.")) == "not_ends_with")
    let exact = try filter("{type: ends_with, values: [\"Hope this helps\"], case_sensitive: true}")
    #expect(exact.check(record(output: "Done. Hope this helps")) == "ends_with:Hope this helps")
    #expect(exact.check(record(output: "Done. hope this helps")) == nil)
  }

  @Test func firstCharacter() throws {
    let f = try filter("{type: first_character}")
    #expect(f.check(record(instruction: "- list three colours")) == "punctuation")
    #expect(f.check(record(instruction: "«Traduire» ce texte")) == "punctuation")
    #expect(f.check(record(instruction: "$100 in euros?")) == "punctuation")
    #expect(f.check(record(instruction: "Übersetze den Satz.")) == nil)
    #expect(f.check(record(instruction: "")) == nil)
    let ascii = try filter("{type: first_character, non_ascii: true}")
    #expect(ascii.check(record(instruction: "Übersetze den Satz.")) == "non_ascii")
    #expect(ascii.check(record(instruction: "翻译这句话")) == "non_ascii")
    #expect(ascii.check(record(instruction: "Translate this.")) == nil)
    let python = try filter("{type: first_character, punctuation_set: ascii}")
    #expect(python.check(record(instruction: "«Traduire» ce texte")) == nil)  // not in string.punctuation
    #expect(python.check(record(instruction: "#1 tip for sleep?")) == "punctuation")
    #expect(python.check(record(instruction: "€100 in dollars?")) == nil)
  }

  @Test func refusal() throws {
    let f = try filter("{type: refusal}")
    #expect(f.check(record(output: "As an AI language model, I do not have opinions.")) == "refusal:as an ai")
    #expect(f.check(record(output: "I\u{2019}m sorry, but I can\u{2019}t help with that.")) == "refusal:i'm sorry, but")
    #expect(f.check(record(output: "Paris is the capital of France.")) == nil)
    #expect(f.check(record(output: "")) == nil)
    let extra = try filter("{type: refusal, phrases: [\"Als KI\"], fields: [output, instruction]}")
    #expect(extra.check(record(output: "Als KI kann ich das nicht beantworten.")) == "refusal:als ki")
    let only = try filter("{type: refusal, phrases: [\"lo siento\"], replace: true}")
    #expect(only.check(record(output: "As an AI, no.")) == nil)
    #expect(only.check(record(output: "Lo siento, no puedo.")) == "refusal:lo siento")
  }

  @Test func repetition() throws {
    let f = try filter("{type: repetition}")
    #expect(f.check(record(output: "Buy now!\nBuy now!\nBuy now!\nCheap pills.")) == "duplicate_lines")
    let paragraphs =
      "The first paragraph, line one.\nLine two.\n\nAnother one here.\n\nThe first paragraph, line one.\nLine two."
    #expect(
      try filter("{type: repetition, max_duplicate_lines: 1}").check(record(output: paragraphs))
        == "duplicate_paragraphs")
    #expect(f.check(record(output: String(repeating: "very very ", count: 20) + "good")) == "repeated_2grams")
    let prose =
      "Rivers carve valleys over thousands of years, carrying sediment from the mountains to the sea, "
      + "where deltas form and shift with every flood."
    #expect(f.check(record(output: prose)) == nil)
    #expect(f.check(record(output: "河流经过数千年切割山谷，把泥沙从山上带到海里，在那里形成三角洲。")) == nil)
    #expect(f.check(record(output: "")) == nil)
    let sea = "The sea is calm today and the sea is blue."
    #expect(f.check(record(output: sea)) == nil)  // under min_words (20): no n-gram checks
    #expect(try filter("{type: repetition, min_words: 5}").check(record(output: sea)) == "repeated_2grams")
  }

  @Test func outputCopiesInput() throws {
    let f = try filter("{type: output_copies_input}")
    #expect(
      f.check(record(instruction: "Fix the grammar.", input: "She go to school.", output: "she go to school."))
        == "copies_input")
    #expect(
      f.check(
        record(instruction: "Summarize the text below in one short sentence.", output: "Summarize the text below"))
        == "copies_instruction")
    #expect(
      f.check(record(instruction: "Fix the grammar.", input: "She go to school.", output: "She goes to school.")) == nil
    )
    #expect(f.check(record(instruction: "Übersetze: Guten Morgen", output: "Good morning")) == nil)
    #expect(f.check(record(instruction: "Say hi", output: "")) == nil)
  }

  @Test func placeholder() throws {
    let f = try filter("{type: placeholder}")
    #expect(f.check(record(instruction: "Translate {sentence} into French.")) == "braces")
    #expect(f.check(record(instruction: "List three colours.", input: "<noinput>")) == "noinput")
    #expect(f.check(record(instruction: "#Rewritten Prompt#: write a poem")) == "template_marker")
    // Outputs are not checked by default.
    #expect(f.check(record(instruction: "Write a Python f-string.", output: "f'{name}'")) == nil)
    #expect(f.check(record(instruction: "Écris un poème sur l'été.")) == nil)
    #expect(f.check(record(instruction: "")) == nil)
  }

  @Test func unfinished() throws {
    let f = try filter("{type: unfinished}")
    #expect(f.check(record(output: "The three causes are", meta: ["truncated": .bool(true)])) == "truncated")
    #expect(f.check(record(output: "Done.")) == nil)
  }

  @Test func script() throws {
    let latin = try filter("{type: script}")
    #expect(latin.check(record(output: "Das Wetter ist schön heute.")) == nil)
    #expect(latin.check(record(output: "天气很好。It is nice.")) == nil)  // 8 Latin letters of 12
    #expect(latin.check(record(output: "今天天气很好，我们去公园吧。")) == "not_latin")
    #expect(latin.check(record(output: "Привет, как дела?")) == "not_latin")
    #expect(latin.check(record(output: "12 + 30 = 42")) == nil)  // no letters
    #expect(latin.check(record(output: "")) == nil)
    let han = try filter("{type: script, script: han, min_fraction: 0.8}")
    #expect(han.check(record(output: "今天天气很好")) == nil)
    #expect(han.check(record(output: "今天 weather 很好")) == "not_han")
  }

  @Test func score() throws {
    let f = try filter("{type: score, path: meta.curation.score, min: 4}")
    func curated(_ score: JSONValue) -> Record { record(meta: ["curation": .object(["score": score])]) }
    #expect(f.check(curated(.int(5))) == nil)
    #expect(f.check(curated(.int(4))) == nil)
    #expect(f.check(curated(.int(3))) == "below_4")
    #expect(f.check(curated(.null)) == "missing")
    #expect(f.check(record()) == "missing")
    let band = try filter("{type: score, path: avg_similarity_score, min: 0.1, max: 0.5, missing: keep}")
    var r = record()
    r["avg_similarity_score"] = .number("0.72")
    #expect(band.check(r) == "above_0.5")
    #expect(band.check(record()) == nil)
  }

  @Test func mistakesInFilterEntriesNameTheLine() throws {
    for (yaml, message) in [
      ("{type: starts_with}", "values"), ("{type: score, path: meta.x}", "min"),
      ("{type: script, script: klingon}", "klingon"),
      ("{type: score, path: \"meta..x\", min: 1}", "dotted"), ("{type: repetition, max_top_2gram: 2}", "max_top_2gram"),
    ] {
      #expect(throws: InstillError.self) { try filter(yaml) }
      do { _ = try filter(yaml) } catch {
        #expect("\(error)".contains(message) && "\(error)".contains("f.yaml:1"), "\(yaml): \(error)")
      }
    }
  }
}

extension FilterLibraryTests {
  /// `examples_per_reason` keeps that many dropped examples per reason (across
  /// shards too), and `instill stats --examples` prints them whole.
  @Test func droppedExamplesAreKeptPerReasonAndPrintedWhole() async throws {
    let dir = TempDir()
    var lines = ""
    for i in 0..<40 {
      let output =
        i % 2 == 0
        ? "As an AI, I cannot do task \(i)."
        : "Here is a long enough answer for task \(i), " + String(repeating: "word ", count: 60)
      lines += JSONWriter.string(.object(["instruction": .string("Task \(i)"), "output": .string(output)])) + "\n"
    }
    dir.write("in.jsonl", lines)
    let pipeline = dir.write(
      "p.yaml",
      """
      name: ex
      examples_per_reason: 7
      stages:
        - kind: read
          path: in.jsonl
          records_per_shard: 10
        - kind: filter
          filters:
            - {type: refusal}
            - {type: length, field: output, unit: words, max: 50}
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let stats = try await stageStats(run, "filter")
    let refusal = stats["filters"]?.arrayValue?.first { $0.objectValue?["name"] == .string("refusal") }?.objectValue
    #expect(refusal?["examples"]?.objectValue?["refusal:as an ai"]?.arrayValue?.count == 7)
    #expect(refusal?["dropped"]?.objectValue?["refusal:as an ai"]?.intValue == 20)

    let printed = try await instill(expect: 0, "stats", run, "--examples", "too_long")
    #expect(printed.stdout.hasPrefix("filter / length-output / too_long: 20 dropped, 7 examples kept\n"))
    #expect(printed.stdout.components(separatedBy: "\n--- ").count == 8)
    #expect(printed.stdout.contains(String(repeating: "word ", count: 40)))  // whole, not cut at 120 characters
    let scoped = try await instill(expect: 0, "stats", run, "--examples", "filter/refusal:refusal:as an ai")
    #expect(scoped.stdout.hasPrefix("filter / refusal / refusal:as an ai: 20 dropped, 7 examples kept"))
    let plain = try await instill(expect: 0, "stats", run, "--examples", "refusal:as an ai")
    #expect(plain.stdout.hasPrefix("filter / refusal / refusal:as an ai: 20 dropped"))
    let none = try await instill(expect: 2, "stats", run, "--examples", "too_short")
    #expect(none.stderr.contains("no dropped examples of 'too_short'"))
  }
}

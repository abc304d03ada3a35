import Foundation
import InstillCore
import InstillTestSupport
import InstillUnnatural
import Testing

/// Unnatural Instructions: parsers on recorded replies, the seed format, and the
/// stages against a scripted fake endpoint.
struct UnnaturalTests {
  typealias Example = (instruction: String, input: String, constraints: String)

  static func parse(_ reply: String) -> Example? {
    if case .success(let e) = UnnaturalParsing.example(reply) { return e }
    return nil
  }

  static func missing(_ reply: String) -> String? {
    if case .failure(let m) = UnnaturalParsing.example(reply) { return m.name }
    return nil
  }

  @Test func fourthExamplesAreParsedInAnyOrderAndCutAtExample5() {
    let plain = "Instruction: Name the colour of the fruit.\nInput: banana\nConstraints: The output should be a colour."
    #expect(Self.parse(plain)?.instruction == "Name the colour of the fruit.")
    let shuffled = "Constraints: None\nInput: 3, 4\nInstruction: Multiply the numbers."
    #expect(Self.parse(shuffled)?.input == "3, 4")
    #expect(Self.parse(shuffled)?.constraints == "None")
    let runaway =
      plain
      + "\n\nExample 5\nInstruction: Something else.\nInput: x\nConstraints: None\n\nExample 6\nInstruction: More."
    #expect(Self.parse(runaway)?.constraints == "The output should be a colour.")
    let multiline = "Instruction: Summarize the text.\nInput: Line one.\nLine two.\nConstraints: None"
    #expect(Self.parse(multiline)?.input == "Line one.\nLine two.")
    let plural = "Instructions: Spell the word backwards.\nInput: stone\nConstraints: A single word."
    #expect(Self.parse(plural)?.instruction == "Spell the word backwards.")
    #expect(Self.missing("Instruction: Sort the list.\nInput: 3, 1, 2") == "constraints")
    #expect(Self.missing("Instruction: Sort the list.\nInput:\nConstraints: None") == "input")
    #expect(Self.missing("Here is a new example about geography for you.") == "instruction")
    #expect(Self.missing("") == "instruction")
  }

  @Test func paraphrasesNeedExactlyOnePlaceholder() {
    let stage = ParaphraseStage()
    let original = "Classify the sentiment of the review as positive or negative."
    #expect(stage.check("Is this review happy or unhappy?", original: original)?.reason == "no_placeholder")
    #expect(stage.check("Is this review happy or unhappy? {input}", original: original)?.reason == "no_placeholder")
    #expect(stage.check("{INPUT} Is {INPUT} happy?", original: original)?.reason == "placeholder_repeated")
    #expect(
      stage.check("Classify the sentiment of the review as positive or negative. {INPUT}", original: original)?.filter
        == "identical")
    #expect(
      stage.check("Classify the sentiment of the review as positive or negative, please: {INPUT}", original: original)?
        .filter == "near_copy")
    #expect(stage.check("{INPUT} — happy or unhappy?", original: original) == nil)
    #expect(
      UnnaturalParsing.paraphrase("Rephrased: What language is {INPUT} in?\n\nMore text")
        == "What language is {INPUT} in?")
  }

  @Test func releasedAndOurSeedFilesLoadAsRecords() async throws {
    let dir = TempDir()
    dir.write(
      "full.jsonl",
      """
      {"instruction": "Tell the colour.", "instances": [{"input": "grass", "instruction_with_input": "Tell the colour.\\ngrass", "constraints": "None", "output": "green"}], "reformulations": [{"instruction": "What colour is {INPUT}?", "input": "grass", "instruction_with_input": "What colour is grass?", "output": "green"}]}

      """)
    let p = dir.write(
      "p.yaml",
      """
      name: load
      stages:
        - kind: read
          path: full.jsonl
          format: unnatural
        - kind: export
          format: alpaca
          shuffle: false
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", p, "--run-dir", run)
    let records = try stageRecords(run, "01-read")
    #expect(records.map(\.instruction) == ["Tell the colour.", "What colour is {INPUT}?"])
    #expect(records[0].string("constraints") == "None")
    #expect(records[1].meta["reformulation"] == .bool(true))
    #expect(records[1].string("instruction_with_input") == "What colour is grass?")

    let ours = try RecordReader.readAll(path: repositoryPath("Seeds/unnatural/seed_sets.jsonl"))
    #expect(ours.count >= 15)
    #expect(Set(ours.compactMap { $0["seed_set"]?.intValue }).count >= 5)
  }
}

import Foundation
import InstillCore
import InstillDocuments
import InstillReverse
import InstillTestSupport
import Testing

/// Wiki markup, Markdown sections, the segment rules and `reverse_instruct`.
struct ReverseTests {
  func wiki(_ text: String) -> [Document.Section] { WikiMarkup.sections(Array(text.utf8)) }

  @Test(arguments: [
    ("[[Paris]] is in [[France|the French Republic]].", "Paris is in the French Republic."),
    ("A {{citation needed|date=2020}}claim{{efn|note {{nested}} here}}.", "A claim."),
    ("Text<ref name=\"a\">{{cite web|url=x}}</ref> more<ref name=\"b\"/>.", "Text more."),
    ("'''Bold''' and ''italic'' and '''''both'''''.", "Bold and italic and both."),
    ("[[File:Map.png|thumb|A map of [[Paris]]]]Cities grow.", "Cities grow."),
    ("See [http://example.org the site] or [http://example.org].", "See the site or ."),
    ("x<!-- hidden [[link]] -->y", "xy"),
    ("5&nbsp;km &ndash; far &amp; wide", "5 km – far & wide"),
    ("Line<br/>break <small>small</small> text", "Linebreak small text"),
    ("[[dog]]s and [[:Category:Dogs|dog list]]", "dogs and dog list"),
    ("A [[Page#Section]] link", "A Page link"),
    ("Ünïcödé [[Zürich|Zü]] 語", "Ünïcödé Zü 語"),
  ])
  func wikiMarkupIsReducedToItsText(markup: String, text: String) {
    #expect(wiki(markup).first?.text == text)
  }

  @Test func wikiSectionsFollowHeadingsAndTablesListsAndCategoriesGo() {
    let sections = wiki(
      """
      Intro text.
      {| class="wikitable"
      |-
      | cell {| nested |} || cell
      |}
      == History ==
      * first point
      # numbered
      : indented
      __NOTOC__
      === Early years ===
      Old times.
      ----
      [[Category:Things]]
      [[de:Dinge]]
      """)
    #expect(sections.map(\.heading) == ["", "History", "Early years"])
    #expect(sections[0].text == "Intro text.")
    #expect(sections[1].text == "first point\nnumbered\nindented")
    #expect(sections[2].text == "Old times.")
  }

  @Test func markdownIsSplitAtHeadingsButNotInsideCodeFences() {
    let doc = PlainText.document(
      "Preface.\n\n# Guide\nIntro.\n## Install ##\nRun it:\n```\n# not a heading\n```\n#hashtag stays\n",
      source: "g.md", format: .markdown, title: "g")
    #expect(doc.title == "Guide")
    #expect(doc.sections.map(\.heading) == ["", "Guide", "Install"])
    #expect(doc.sections[2].text == "Run it:\n```\n# not a heading\n```\n#hashtag stays")
    let plain = PlainText.document(
      "# Not a heading in a .txt\r\nline  \n\n\n\nnext", source: "a.txt", format: .text, title: "a")
    #expect(plain.sections == [.init(heading: "", text: "# Not a heading in a .txt\nline\n\nnext")])
  }

  @Test func segmentRulesDropNavigationShoutingRepetitionAndDuplicates() {
    let stats = StatsRecorder()
    var settings = CleaningSettings()
    settings.minChars = 50
    settings.maxChars = 400
    let cleaner = SegmentCleaner(settings: settings, stats: stats)
    let prose = "Rivers carve valleys over thousands of years, carrying sediment from mountains down to the sea."
    let cases: [(String, String, Bool)] = [
      ("History", prose, true),
      ("Related Posts", prose + " One.", false),  // navigation
      ("SUBSCRIBE TO OUR NEWSLETTER", prose + " Two.", false),  // all caps
      ("Menu", prose + " Three.", false),
      ("Geology", prose, false),  // exact duplicate of the first
      ("Wiederholung", String(repeating: "Click here now.\n", count: 6), false),  // duplicate lines
      ("Spam", String(repeating: "buy cheap pills ", count: 12), false),  // repeated n-grams
      ("Short", "Too short.", false),
      ("Long", String(repeating: prose + " ", count: 6), false),
      ("中文", "语言模型变得越来越大,它们的表现似乎也越来越好,这被称为自然语言的规模定律,已经在很多任务中被证明。", true),
    ]
    for (heading, text, kept) in cases {
      #expect(cleaner.segments(of: .init(heading: heading, text: text)).isEmpty == !kept, "\(heading)")
    }
    let s = stats.snapshot
    func drops(_ name: String) -> [String: Int] { s.filters.first { $0.name == name }?.dropped ?? [:] }
    #expect(drops("heading") == ["navigation": 2, "all_caps": 1])
    #expect(drops("duplicate") == ["exact": 1])
    #expect(drops("repetition") == ["duplicate_lines": 1, "repeated_2grams": 1])
    #expect(drops("length") == ["too_short": 1, "too_long": 1])
    #expect(s.recordsIn == cases.count)
  }

  @Test func longSectionsAreCutAtParagraphsWhenAsked() {
    let paragraph = String(repeating: "word ", count: 30).trimmingCharacters(in: .whitespaces)
    let text = (0..<7).map { _ in paragraph }.joined(separator: "\n\n")
    let pieces = SegmentCleaner.split(text, maxChars: 400)
    #expect(pieces.count == 4)
    #expect(pieces.allSatisfy { $0.count <= 400 })
    #expect(pieces.joined(separator: "\n\n") == text)
  }

  @Test func chineseSectionsAreCutByEstimatedTokensWhenAsked() throws {
    #expect(SegmentCleaner.estimatedTokens(String(repeating: "abcd", count: 100)) == 100)
    #expect(SegmentCleaner.estimatedTokens(String(repeating: "语言模型", count: 25)) == 200)
    #expect(SegmentCleaner.estimatedTokens("한국어 テキスト") == 2 * 3 + 1 + 2 * 4)
    // The corpus's Chinese page: 3,000 characters fit max_chars but not a 2,048-token context.
    let page = try String(
      contentsOfFile: repositoryPath("Seeds/documents/web/inverse-scaling-u-shape.zh.txt"), encoding: .utf8)
    let section = Document.Section(heading: "", text: String(page.prefix(3000)))
    var settings = CleaningSettings()
    settings.minChars = 100
    settings.maxTokens = 1200
    let dropped = StatsRecorder()
    #expect(SegmentCleaner(settings: settings, stats: dropped).segments(of: section).isEmpty)
    #expect(dropped.snapshot.filters.first { $0.name == "length" }?.dropped == ["too_many_tokens": 1])
    settings.splitLong = true
    let cut = StatsRecorder()
    let pieces = SegmentCleaner(settings: settings, stats: cut).segments(of: section)
    #expect(pieces.count >= 3, "\(pieces.map(\.count))")
    #expect(pieces.allSatisfy { SegmentCleaner.estimatedTokens($0) <= 1200 })
    #expect(cut.snapshot.filters.first { $0.name == "length" }?.dropped["too_many_tokens"] == nil)
    // English text of the same length is far under the limit: one piece, as before.
    let abstracts = try String(
      contentsOfFile: repositoryPath("Seeds/documents/web/quantization-scaling-and-ama.en.txt"), encoding: .utf8)
    let english = Document.Section(heading: "", text: String(abstracts.prefix(2900)))
    #expect(SegmentCleaner.estimatedTokens(english.text) < 800)
    let kept = StatsRecorder()
    #expect(
      SegmentCleaner(settings: settings, stats: kept).segments(of: english).count == 1, "\(kept.snapshot.filters)")
  }

  @Test(arguments: [
    ("One sentence.", 1), ("First. Second! Third? ", 3), ("e.g. this is one sentence.", 1), ("Pi is 3.14 here.", 1),
    ("Wait?! Really.", 2), ("No end", 1), ("第一句。第二句！", 2), ("Ends with a dot.", 1),
  ])
  func sentencesAreCountedForTheLengthHint(text: String, count: Int) {
    #expect(ReversePrompts.sentenceCount(text) == count)
  }

  @Test(arguments: [
    ("Instruction: Explain tides.", "Explain tides."),
    ("**Query:** \"tide tables for Brest\"", "tide tables for Brest"),
    ("  Message: hey, why do tides happen?\n\nSure! Tides happen because…", "hey, why do tides happen?"),
    ("> How do tides work?", "How do tides work?"), ("", ""),
  ])
  func repliesAreCleanedToTheInstruction(reply: String, instruction: String) {
    #expect(ReversePrompts.clean(reply, style: nil) == instruction)
  }

  @Test func echoedInstructionsAreRecognized() {
    let doc =
      "Tides are the rise and fall of sea levels caused by the gravity of the moon and the sun acting on the oceans, "
      + "and by the rotation of the earth."
    #expect(ReverseInstructStage.echoes(doc, doc))
    #expect(
      ReverseInstructStage.echoes("Tides are the rise and fall of sea levels caused by the gravity of the moon", doc))
    #expect(!ReverseInstructStage.echoes("What causes tides?", doc))
    #expect(!ReverseInstructStage.echoes("tides moon sun gravity", doc))
    #expect(!ReverseInstructStage.echoes("How do tides work?", "The sun matters too."))
    #expect(ReverseInstructStage.echoes("The sun matters, too!", "The sun matters too."))
  }

  /// A scripted endpoint: the reply depends on which style's prompt arrived.
  @Test func reverseInstructWritesOneInstructionPerDocumentInTheChosenStyles() async throws {
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, body in
      guard let (chat, text) = FakeModel.promptText(body) else { return .respond(status: 400, headers: [], body: []) }
      let reply: String
      if text.contains("copied back") {
        reply = "Instruction: The model copied back this whole document, word for word, as its answer."
      } else if text.contains("EMPTY") {
        reply = "**Query:**"
      } else if text.contains("search engine") {
        reply = "Query: tide tables"
      } else if text.contains("chatbot") {
        reply = "Message: yo why r tides a thing"
      } else {
        reply = "Instruction: Explain what tides are."
      }
      return FakeModel.respond(reply, chat: chat)
    }
    defer { server.stop() }
    var lines = ""
    for i in 0..<30 {
      lines += "{\"id\": \"d\(i)\", \"text\": \"Tides rise and fall. Document number \(i). The moon pulls the sea.\"}\n"
    }
    lines +=
      "{\"id\": \"echo\", \"text\": \"The model copied back this whole document, word for word, as its answer.\"}\n"
    lines += "{\"id\": \"empty\", \"text\": \"EMPTY reply for this one, please.\"}\n"
    dir.write("docs.jsonl", lines)
    let pipeline = dir.write(
      "p.yaml",
      """
      name: rev
      seed: 9
      llm: {provider: openai, base_url: \(server.baseURL), model: fake}
      stages:
        - kind: documents
          sources: [docs.jsonl]
          min_chars: 10
        - kind: reverse_instruct
          styles: {instruction: 1, chatbot: 1, query: 2}
          length_hint: 0.5
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let out = try stageRecords(run, "02-reverse_instruct")
    #expect(out.count == 30)
    var styles: [String: Int] = [:]
    for record in out {
      let reverse = record.meta["reverse"]?.objectValue ?? [:]
      let style = reverse["style"]?.stringValue ?? "?"
      styles[style, default: 0] += 1
      let expected = [
        "instruction": "Explain what tides are.", "chatbot": "yo why r tides a thing", "query": "tide tables",
      ][style]
      let hint = reverse["length_hint"]?.stringValue
      #expect(record.instruction == (hint.map { (expected ?? "") + " " + $0 } ?? expected))
      if let hint { #expect(hint == "Respond in 3 sentences.") }
      #expect(record.output.hasPrefix("Tides rise and fall. Document number"))  // the document, unchanged
      #expect(record.input.isEmpty)
      #expect(record.meta["document"]?.objectValue?["source"]?.stringValue?.contains("docs.jsonl#d") == true)
    }
    #expect(styles.count == 3 && (styles["query"] ?? 0) > (styles["chatbot"] ?? 0), "\(styles)")
    let hints = out.filter { $0.meta["reverse"]?.objectValue?["length_hint"] != .null }.count
    #expect(hints > 5 && hints < 25)
    let stats = try await stageStats(run, "reverse_instruct")
    #expect(filterDrops(stats)["instruction"] == ["echo": 1, "empty": 1])
    #expect(stats["counters"]?.objectValue?["length_hints"] == .int(hints))

    // The same pipeline and replies again: byte-identical choices and output.
    let again = dir.file("again")
    try await instill(expect: 0, "run", pipeline, "--run-dir", again)
    #expect(
      treeDigest(run + "/stages/02-reverse_instruct").filter { $0.key.hasSuffix(".gz") }
        == treeDigest(again + "/stages/02-reverse_instruct").filter { $0.key.hasSuffix(".gz") })
  }

  @Test func backtranslationShowsSeedPairsOutputFirstWithNucleusSampling() async throws {
    let dir = TempDir()
    let bodies = RequestLog()
    let server = try TestHTTPServer { _, _, body in
      bodies.add(String(decoding: body, as: UTF8.self))
      let messages = (try? JSONParser.parse(body))?.objectValue?["messages"]?.arrayValue ?? []
      let last = messages.last?.objectValue?["content"]?.stringValue ?? ""
      // For the third document, the model copies the first demonstration's instruction.
      let copied = messages.count > 2 ? messages[2].objectValue?["content"]?.stringValue ?? "" : ""
      return FakeModel.respond(last.contains("COPY") ? copied : "How do tides work?", chat: true)
    }
    defer { server.stop() }
    dir.write(
      "docs.jsonl",
      "{\"id\": \"a\", \"text\": \"Tides are caused by the moon.\"}\n{\"id\": \"b\", \"text\": \"The sun matters too.\"}\n"
        + "{\"id\": \"c\", \"text\": \"COPY the demonstration, please.\"}\n")
    let pipeline = dir.write(
      "p.yaml",
      """
      name: bt
      llm: {provider: openai, base_url: \(server.baseURL), model: fake}
      stages:
        - kind: documents
          sources: [docs.jsonl]
          min_chars: 10
        - kind: reverse_instruct
          mode: backtranslate
          seeds: \(repositoryPath("Seeds/backtranslate/seed_pairs.jsonl"))
          demonstrations: 4
      """)
    try await instill(expect: 0, "run", pipeline, "--run-dir", dir.file("run"))
    let requests = bodies.all.compactMap { try? JSONParser.parse($0).objectValue }
    #expect(requests.count == 3)
    for request in requests {
      #expect(request["temperature"]?.doubleValue == 0.7)
      #expect(request["top_p"]?.doubleValue == 0.9)
      let messages = request["messages"]?.arrayValue?.compactMap(\.objectValue) ?? []
      let roles: [String] = messages.map { $0["role"]?.stringValue ?? "" }
      var expectedRoles = ["system"]
      for _ in 0..<4 { expectedRoles += ["user", "assistant"] }
      expectedRoles.append("user")
      #expect(roles == expectedRoles)
      // Each demonstration: the seed output as the user turn, its instruction as the reply.
      #expect(messages[1]["content"]?.stringValue?.hasPrefix("Response:\n") == true)
      #expect((messages[2]["content"]?.stringValue?.count ?? 0) < (messages[1]["content"]?.stringValue?.count ?? 0))
    }
    // The demonstrations are the same for every document (a stable, cacheable prefix).
    let prefixes = requests.map { Array(($0["messages"]?.arrayValue ?? []).dropLast()) }
    #expect(prefixes.count == 3 && prefixes[0] == prefixes[1] && prefixes[1] == prefixes[2])
    let out = try stageRecords(dir.file("run"), "02-reverse_instruct")
    #expect(out.map(\.instruction) == ["How do tides work?", "How do tides work?"])
    #expect(out.first?.meta["reverse"]?.objectValue?["mode"] == .string("backtranslate"))
    let stats = try await stageStats(dir.file("run"), "reverse_instruct")
    #expect(filterDrops(stats)["instruction"] == ["copied_demonstration": 1])
  }
}

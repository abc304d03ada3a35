import Foundation
import InstillCore
import InstillRouge

/// Instruction-like sentences with the overlap real generated sets have: shared
/// task templates, shared openers and topics, small rewordings. Deterministic.
enum InstructionGenerator {
  static let topics = """
    photosynthesis,the water cycle,black holes,the French Revolution,machine learning,climate change,the stock market,\
    volcanoes,the human heart,renewable energy,ancient Rome,quantum computing,the immune system,social media,\
    the Great Depression,plate tectonics,blockchain,the Renaissance,vaccines,electric cars,coral reefs,inflation,\
    the printing press,artificial intelligence,sleep,meditation,the Cold War,gravity,DNA,the internet,recycling,\
    supply and demand,the moon landing,bees,rainforests,nuclear power,democracy,the Silk Road,antibiotics,\
    time management,public speaking,remote work,the Olympic Games,jazz music,chess,origami,bread baking,coffee,\
    marathon training,budgeting,job interviews,climate migration,deep sea creatures,the Industrial Revolution,\
    smartphones,password security,cloud computing,urban gardening,electric guitars,tides,glaciers,owls,wolves,\
    desert ecosystems,the Roman Empire,Shakespeare,the periodic table,prime numbers,probability,recursion,\
    sorting algorithms,databases,compilers,neural networks,operating systems,the solar system,Mars,comets,\
    earthquakes,hurricanes,the ozone layer,microplastics,fast fashion,minimalism,volunteering,friendship,\
    procrastination,habit formation,learning a language,the history of tea,chocolate,pizza,sushi,yoga
    """.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
  static let audiences = [
    "", "to a five-year-old", "for a high school student", "for a beginner", "to an expert",
    "in simple terms", "for a busy manager", "to a curious teenager",
  ]
  static let forms = [
    "poem", "short story", "blog post", "tweet", "haiku", "limerick", "news headline", "product description",
    "speech", "letter", "dialogue", "song verse", "essay outline", "riddle",
  ]
  static let lengths = ["short", "funny", "formal", "two-paragraph", "persuasive", "sad", "cheerful", "one-sentence"]
  static let numbers = ["three", "five", "seven", "ten", "two", "four"]
  static let languages = ["French", "Spanish", "German", "Japanese", "Italian", "Portuguese"]
  static let openers = ["", "", "", "Please ", "Can you ", "I need you to ", "Could you "]
  static let styles = [
    "more formal", "more concise", "friendlier", "more persuasive", "easier to read", "more exciting",
  ]
  static let things = ["questions", "facts", "tips", "names", "ideas", "examples", "reasons", "steps", "myths"]

  static let adjectives = """
    ancient modern hidden surprising practical simple complex forgotten local global personal digital natural \
    urban rural economic political cultural scientific medical legal ethical historical seasonal daily weekly \
    cheap expensive quiet noisy fragile durable colorful tiny huge rare common early late creative careful
    """.split(separator: " ").map(String.init).filter { !$0.isEmpty }
  static let nouns = """
    teachers parents farmers nurses engineers students tourists artists athletes chefs pilots sailors miners \
    libraries markets hospitals bridges gardens kitchens museums factories schools villages islands rivers \
    budgets habits rituals tools recipes maps letters songs games rules myths laws prices wages taxes votes \
    batteries sensors robots satellites microscopes telescopes bicycles trains ships engines clocks lamps \
    forests deserts oceans mountains storms seeds insects birds fungi bacteria minerals metals crystals \
    friendships rivalries negotiations debates interviews contracts festivals weddings holidays deadlines
    """.split(separator: " ").map(String.init).filter { !$0.isEmpty }
  static let verbs = [
    "affects", "changed", "shapes", "depends on", "threatens", "helps", "confuses", "inspired",
    "connects", "challenges", "protects", "replaced",
  ]

  /// A detail clause from a larger vocabulary, as real instructions add context.
  static func detail(_ r: inout SeededRandom) -> String {
    func p<T>(_ a: [T]) -> T { a[r.below(a.count)] }
    switch r.below(6) {
    case 0: return "focusing on how it \(p(verbs)) \(p(adjectives)) \(p(nouns))"
    case 1: return "with an example involving \(p(nouns)) and \(p(nouns))"
    case 2: return "from the point of view of \(p(adjectives)) \(p(nouns))"
    case 3: return "and mention \(p(adjectives)) \(p(nouns)) in \(p(adjectives)) \(p(nouns))"
    case 4: return "for a newsletter read by \(p(nouns))"
    default: return ""
    }
  }

  static func make(_ r: inout SeededRandom) -> String {
    func p<T>(_ a: [T]) -> T { a[r.below(a.count)] }
    let topic = p(topics), other = p(topics), audience = p(audiences)
    let opener = p(openers)
    let body: String
    switch r.below(16) {
    case 0: body = "write a \(p(lengths)) \(p(forms)) about \(topic)"
    case 1: body = "explain \(topic) \(audience)"
    case 2: body = "explain the difference between \(topic) and \(other) \(audience)"
    case 3: body = "summarize the main ideas of \(topic) in \(p(numbers)) sentences"
    case 4: body = "give me \(p(numbers)) \(p(things)) about \(topic)"
    case 5: body = "generate a list of \(p(numbers)) \(p(things)) related to \(topic) \(audience)"
    case 6: body = "translate the following sentence about \(topic) into \(p(languages))"
    case 7: body = "what are the main causes and effects of \(topic)"
    case 8: body = "rewrite this paragraph about \(topic) to make it \(p(styles))"
    case 9: body = "classify the following statement about \(topic) as true or false and explain why"
    case 10: body = "describe how \(topic) works, step by step, \(audience)"
    case 11: body = "compare \(topic) with \(other) and list their similarities and differences"
    case 12: body = "create a quiz with \(p(numbers)) questions about \(topic)"
    case 13: body = "suggest a catchy title for an article about \(topic)"
    case 14: body = "what would happen if \(topic) suddenly disappeared"
    default: body = "write an email to a friend recommending a book about \(topic)"
    }
    let extra = detail(&r)
    var text = opener + body.trimmingCharacters(in: .whitespaces) + (extra.isEmpty ? "" : " " + extra)
    text = text.replacingOccurrences(of: "  ", with: " ")
    if let first = text.first { text = first.uppercased() + text.dropFirst() }
    text += opener.hasPrefix("Can") || opener.hasPrefix("Could") || body.hasPrefix("what") ? "?" : "."
    if r.below(5) == 0 {
      text += " " + p(["Keep it brief.", "Use bullet points.", "Be creative.", "Avoid jargon.", "Include an example."])
    }
    return text
  }
}

extension Bench {
  static func instructions(count: Int, out: String) throws {
    var random = SeededRandom(seed: 52)
    let writer = try RecordWriter(path: out)
    for i in 0..<count {
      try writer.write(Record(["id": .string("i\(i)"), "instruction": .string(InstructionGenerator.make(&random))]))
    }
    try writer.finish()
    print("wrote \(count) instructions to \(out)")
  }

  static func rouge(input: String, limit: Int, threads: Int, batch: Int, reportFloor: Double = 0.5) throws {
    // The input is streamed twice (token statistics, then decisions), as the
    // dedup stage does; memory holds the pool and one batch.
    func forEachText(_ body: (String) throws -> Void) throws {
      let reader = try RecordReader(path: input)
      defer { reader.close() }
      var n = 0
      while limit == 0 || n < limit, let r = try reader.read() {
        try body(r.instruction)
        n += 1
      }
    }
    let start = ContinuousClock.now
    // Pass 1: token order from document frequencies (as the dedup stage does).
    let vocabulary = Vocabulary()
    var df: [Int] = []
    try forEachText { text in
      var seen = Set<UInt32>()
      RougeTokenizer.rougeScore.forEachToken(text) { token in
        let id = vocabulary.id(token)
        if Int(id) >= df.count { df.append(contentsOf: repeatElement(0, count: Int(id) + 1 - df.count)) }
        if seen.insert(id).inserted { df[Int(id)] += 1 }
      }
    }
    let dedup = GreedyDedup(
      threshold: 0.7, reportFloor: reportFloor, order: TokenOrder(documentFrequencies: df), threads: threads,
      vocabulary: vocabulary)
    var kept = 0
    var pairs = 0
    var flags: [UInt8] = []
    var chunk: [String] = []
    func flush() {
      for d in dedup.process(chunk) {
        pairs += kept  // what the reference loop scores for this text
        if d.kept { kept += 1 }
        flags.append(d.kept ? 0x31 : 0x30)
      }
      chunk.removeAll(keepingCapacity: true)
    }
    try forEachText { text in
      chunk.append(text)
      if chunk.count >= batch { flush() }
    }
    flush()
    let seconds = elapsed(start)
    let bytes = dedup.pool.approximateBytes
    print("instructions: \(flags.count), kept \(kept), threads \(threads)")
    print("time:         \(String(format: "%.3f", seconds)) s")
    print("pool:         \(bytes / max(1, kept)) bytes per kept instruction (tokens, elements, index)")
    print("peak RSS:     \(String(format: "%.1f", peakRSS())) MiB")
    print("reference pairs: \(pairs) (ROUGE-L computations the Python loop would make)")
    // The kept flags ("1"/"0" per input), for comparison with the Python reference.
    print("decisions-sha256: \(SHA256.hex(flags))")
  }
}

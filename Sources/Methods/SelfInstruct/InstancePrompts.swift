import InstillCore
import InstillFilters
import InstillLLM

/// Our few-shot prompts for instance generation: input-first for generation
/// tasks, output-first (label first) for classification tasks. The shapes are
/// Self-Instruct's (its input-first and output-first templates); the wording and demonstrations are ours.
public enum InstancePrompts {
  public static let inputFirstHeader =
    "Write examples for each task below. When a task allows it, write several "
    + "examples. When a task needs no extra input, write the output directly."

  /// (task, examples), each example (input lines or nil, output).
  public static let inputFirstDemos: [(String, [(String?, String)])] = [
    (
      "Convert the temperature from Celsius to Fahrenheit.",
      [
        ("Input: 25 °C", "77 °F"),
        ("Input: -10 °C", "14 °F"),
        ("Input: 100 °C", "212 °F"),
      ]
    ),
    (
      "Suggest a name for a bakery that specialises in sourdough bread.",
      [
        (nil, "Rise & Crumb")
      ]
    ),
    (
      "Rewrite the sentence in the passive voice.",
      [
        ("Sentence: The committee approved the new budget.", "The new budget was approved by the committee."),
        ("Sentence: A stray cat knocked over the vase.", "The vase was knocked over by a stray cat."),
      ]
    ),
    (
      "Given a list of numbers, return the largest one.",
      [
        ("Input: 4, 17, 9, 2", "17"),
        ("Input: -3, -8, -1", "-1"),
        ("Input: 250, 250, 12", "250"),
      ]
    ),
    (
      "Give three tips for keeping houseplants healthy in winter.",
      [
        (
          nil,
          "1. Water less often, since growth slows down.\n2. Move plants closer to a bright window.\n"
            + "3. Keep them away from radiators and cold drafts."
        )
      ]
    ),
    (
      "Answer the question using the paragraph.",
      [
        (
          "Paragraph: The Danube flows through ten countries, more than any other river in the world, and ends in the Black Sea.\n"
            + "Question: Where does the Danube end?", "In the Black Sea."
        ),
        (
          "Paragraph: Honey never spoils because its low water content and acidity stop bacteria from growing.\n"
            + "Question: Why does honey not spoil?", "Its low water content and acidity stop bacteria from growing."
        ),
      ]
    ),
    (
      "Write a polite reply declining the invitation.",
      [
        (
          "Invitation: Would you like to join our book club meeting this Thursday at 7 pm?",
          "Thank you so much for the invitation. I'm busy on Thursday evening, so I can't make it this time, "
            + "but I hope you have a great meeting."
        )
      ]
    ),
    (
      "Explain the idiom in simple words.",
      [
        ("Idiom: to break the ice", "To say or do something that makes people feel relaxed when they first meet."),
        ("Idiom: to be on the fence", "To be unable to decide between two options."),
      ]
    ),
    (
      "Write a Python function that checks whether a string is a palindrome.",
      [
        (
          nil,
          "def is_palindrome(text):\n    cleaned = ''.join(c.lower() for c in text if c.isalnum())\n"
            + "    return cleaned == cleaned[::-1]"
        )
      ]
    ),
    (
      "Correct the spelling mistakes in the text.",
      [
        ("Text: I recieved the pakage yesterday.", "I received the package yesterday."),
        ("Text: Their going to the libary tomorow.", "They're going to the library tomorrow."),
      ]
    ),
    (
      "Summarize the review in one sentence.",
      [
        (
          "Review: The hotel was spotless and the staff were friendly, but the walls were thin and the street outside "
            + "was noisy until two in the morning.",
          "A clean hotel with friendly staff, spoiled by noise at night."
        )
      ]
    ),
  ]

  public static let outputFirstHeader =
    "Each task below is a classification task. For each of its possible labels, "
    + "write the label and then an input that belongs to it. When a task needs no input, write only the labels."

  /// (task, [(label, input lines or nil)]).
  public static let outputFirstDemos: [(String, [(String, String?)])] = [
    (
      "Label the sentiment of the movie review as positive or negative.",
      [
        ("Positive", "Review: The acting was superb and I laughed from beginning to end."),
        ("Negative", "Review: Two hours of my life I will never get back."),
      ]
    ),
    (
      "Is the number prime?",
      [
        ("Yes", "Number: 13"),
        ("No", "Number: 21"),
      ]
    ),
    (
      "Classify the animal as a mammal, bird, reptile, amphibian or fish.",
      [
        ("Mammal", "Animal: dolphin"),
        ("Bird", "Animal: penguin"),
        ("Reptile", "Animal: gecko"),
        ("Amphibian", "Animal: salamander"),
        ("Fish", "Animal: salmon"),
      ]
    ),
    (
      "Does the sentence contain a grammatical error?",
      [
        ("Yes", "Sentence: She don't like coffee."),
        ("No", "Sentence: They have lived here since 2015."),
      ]
    ),
    (
      "Which word does not belong with the others?",
      [
        ("Carrot", "Words: apple, banana, carrot, cherry"),
        ("Piano", "Words: piano, red, blue, green"),
      ]
    ),
    (
      "Rate the urgency of the support ticket as low, medium or high.",
      [
        ("High", "Ticket: Our checkout page has been down for an hour and customers cannot pay."),
        ("Medium", "Ticket: The export button is slow; it takes a minute to finish."),
        ("Low", "Ticket: Could you add a dark mode to the settings page?"),
      ]
    ),
    (
      "Tell whether the statement is true or false.",
      [
        ("True", "Statement: Water boils at a lower temperature at high altitude."),
        ("False", "Statement: The Sun orbits the Earth."),
      ]
    ),
    (
      "Identify the language of the sentence.",
      [
        ("French", "Sentence: Je voudrais un café, s'il vous plaît."),
        ("Spanish", "Sentence: ¿Dónde está la estación de tren?"),
        ("German", "Sentence: Das Wetter ist heute schön."),
      ]
    ),
    (
      "Is the email spam?",
      [
        ("Yes", "Email: Congratulations! You won a free cruise. Click here and enter your card details to claim it."),
        ("No", "Email: Hi Sam, the meeting moved to 3 pm tomorrow. See you there."),
      ]
    ),
    (
      "Decide whether the second sentence follows from the first.",
      [
        (
          "Follows",
          "Sentence 1: All the shops in the village close on Sunday.\nSentence 2: The bakery in the village is closed on Sunday."
        ),
        ("Does not follow", "Sentence 1: Maria bought a new bicycle.\nSentence 2: Maria cycles to work every day."),
      ]
    ),
    (
      "Choose the correct answer: A, B or C.",
      [
        ("B", "Question: What is the capital of Australia?\nA. Sydney\nB. Canberra\nC. Melbourne"),
        ("A", "Question: Which gas do plants absorb from the air?\nA. Carbon dioxide\nB. Oxygen\nC. Helium"),
      ]
    ),
    (
      "Is the tweet sarcastic?",
      [
        ("Yes", "Tweet: Oh great, another Monday. Exactly what I was hoping for."),
        ("No", "Tweet: Finished my first half marathon today, so proud!"),
      ]
    ),
    (
      "Say whether the triangle with the given side lengths is right-angled.",
      [
        ("Yes", "Sides: 3, 4, 5"),
        ("No", "Sides: 2, 3, 4"),
      ]
    ),
    (
      "Name a primary color.",
      [
        ("Red", nil),
        ("Blue", nil),
        ("Yellow", nil),
      ]
    ),
    (
      "Classify the news headline as sports, politics, business or science.",
      [
        ("Sports", "Headline: Underdogs clinch the title in a last-minute penalty shootout"),
        ("Politics", "Headline: Parliament votes to lower the voting age to sixteen"),
        ("Business", "Headline: Shares of the carmaker jump after record quarterly profits"),
        ("Science", "Headline: Telescope spots water vapour on a distant planet"),
      ]
    ),
    (
      "Is the word a noun or a verb?",
      [
        ("Noun", "Word: happiness"),
        ("Verb", "Word: whisper"),
      ]
    ),
  ]

  /// A demonstration's answer in input-first form: `Example N` markers when there
  /// are several examples, input lines, `Output: …`.
  static func inputFirstBody(_ examples: [(String?, String)]) -> String {
    var text = ""
    for (i, (input, output)) in examples.enumerated() {
      if examples.count > 1 { text += "Example \(i + 1)\n" }
      if let input { text += input + "\n" }
      text += "Output: \(output)\n"
    }
    return text
  }

  /// A demonstration's answer in output-first form: `Class label: L`, then its input lines.
  static func outputFirstBody(_ labels: [(String, String?)]) -> String {
    var text = ""
    for (label, input) in labels {
      text += "Class label: \(label)\n"
      if let input { text += input + "\n" }
    }
    return text
  }

  static func demos(classification: Bool) -> (header: String, [(task: String, body: String)]) {
    classification
      ? (outputFirstHeader, outputFirstDemos.map { ($0.0, outputFirstBody($0.1)) })
      : (inputFirstHeader, inputFirstDemos.map { ($0.0, inputFirstBody($0.1)) })
  }

  /// The prompt: the header, each demonstration's task answered by its examples,
  /// then the task. As text it keeps the original's shape (the model continues
  /// after the task line); chat models follow turns far better than one long
  /// message to continue.
  public static func prompt(_ instruction: String, classification: Bool) -> FewShotPrompt {
    let (header, demos) = demos(classification: classification)
    return FewShotPrompt(
      system: header, shots: demos.map { .init("Task: \($0.task)", String($0.body.dropLast())) },
      query: "Task: \(Text.collapsingWhitespace(instruction))",
      layout: CompletionLayout(answerLead: "\n", promptEnd: "\n"))
  }
}

import InstillCore
import InstillFilters

/// Evol-Instruct's elimination rules: an evolution fails when the evolved
/// instruction is empty, unchanged or copies the evolving prompt, when a judge
/// finds no information gain, or when the response is a short apology or only
/// punctuation and stop words. Each rule is a filter with its own counts.
public enum EvolRules {
  /// The filters in the order they are applied (cheapest first, so that no
  /// request is spent on an evolution already lost).
  public static let filterNames = [
    "empty", "unchanged", "prompt_leak", "no_information_gain", "sorry_short",
    "stopwords_only",
  ]

  /// Phrases of the evolving prompts that must not show up anywhere in an
  /// evolved instruction: they only ever talk about the rewriting itself.
  /// ("new task", "new prompt" and "original task" are not among them: "add a
  /// new task to the list" is a fine prompt. They count only as a label, below.)
  public static let leakPhrases = ["given prompt", "rewritten prompt", "created prompt", "original prompt"]

  /// A line that starts with a label of the evolving prompt ("New Prompt:",
  /// "**Rewritten task:**", "Harder prompt:"): the model copied the template's form.
  nonisolated(unsafe) static let leakLabel =
    /(?im)^[\s*_#>-]*(new|original|rewritten|given|created|harder)\s+(prompt|task|instruction)[\s*_#]*:/

  /// Why an evolved instruction fails before any further request, or nil.
  public static func checkEvolved(_ evolved: String, parent: String, markers: [String]) -> (
    filter: String, reason: String
  )? {
    if Text.isBlank(evolved) { return ("empty", "empty_instruction") }
    if Text.collapsingWhitespace(evolved).lowercased() == Text.collapsingWhitespace(parent).lowercased() {
      return ("unchanged", "same_as_parent")
    }
    let lowered = evolved.lowercased()
    for marker in markers where lowered.contains(marker.lowercased()) { return ("prompt_leak", "copied_marker") }
    for phrase in leakPhrases where lowered.contains(phrase) { return ("prompt_leak", "copied_phrase") }
    if evolved.contains(leakLabel) { return ("prompt_leak", "copied_label") }
    return nil
  }

  public enum Judgement: String, Sendable { case equal, notEqual = "not_equal", unparseable }

  /// Reads a judge's reply: "Equal" or "Not Equal" (any case, punctuation or
  /// formatting around it, reasons after it), anything else is unparseable.
  public static func judgement(_ reply: String) -> Judgement {
    guard let line = reply.split(whereSeparator: \.isNewline).first(where: { !Text.isBlank(String($0)) }) else {
      return .unparseable
    }
    let words = line.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init)
    if words.starts(with: ["not", "equal"]) { return .notEqual }
    if words.first == "equal" { return .equal }
    if words.starts(with: ["unequal"]) { return .notEqual }
    return .unparseable
  }

  /// Why a response fails, or nil: a short apology, or nothing but punctuation and stop words.
  public static func checkResponse(_ response: String) -> (filter: String, reason: String)? {
    let lowered = response.lowercased()
    if lowered.contains("sorry"), Text.wordCount(response) < 80 { return ("sorry_short", "sorry_under_80_words") }
    let words = lowered.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'") })
    if words.allSatisfy({ stopwords.contains(String($0).replacingOccurrences(of: "'", with: "")) }) {
      return ("stopwords_only", "only_stopwords_and_punctuation")
    }
    return nil
  }

  /// English stop words (function words and their contractions, apostrophes removed).
  public static let stopwords: Set<String> = [
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "arent", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "cant", "cannot",
    "could", "couldnt", "did", "didnt", "do", "does", "doesnt", "doing", "dont", "down", "during", "each", "few", "for",
    "from", "further", "had", "hadnt", "has", "hasnt", "have", "havent", "having", "he", "hed", "hell", "hes", "her",
    "here", "heres", "hers", "herself", "him", "himself", "his", "how", "hows", "i", "id", "ill", "im", "ive", "if",
    "in",
    "into", "is", "isnt", "it", "its", "itself", "lets", "me", "more", "most", "mustnt", "my", "myself", "no", "nor",
    "not", "of", "off", "on", "once", "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over", "own",
    "same", "shant", "she", "shed", "shell", "shes", "should", "shouldnt", "so", "some", "such", "than", "that",
    "thats",
    "the", "their", "theirs", "them", "themselves", "then", "there", "theres", "these", "they", "theyd", "theyll",
    "theyre", "theyve", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "wasnt", "we",
    "wed", "well", "were", "weve", "werent", "what", "whats", "when", "whens", "where", "wheres", "which", "while",
    "who",
    "whos", "whom", "why", "whys", "will", "with", "wont", "would", "wouldnt", "you", "youd", "youll", "youre", "youve",
    "your", "yours", "yourself", "yourselves", "yes", "ok", "okay", "s", "t",
  ]
}

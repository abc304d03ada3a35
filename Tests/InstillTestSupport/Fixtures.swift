import Foundation
import InstillCore

/// Writes `count` generated question/answer records as JSONL with natural variety.
public func writeQA(_ dir: TempDir, name: String = "qa.jsonl", count: Int, seed: UInt64 = 1) -> String {
  var random = SeededRandom(seed: seed)
  let words = [
    "explain", "the", "difference", "between", "image", "a", "list", "of", "three", "reasons", "why", "rivers",
    "summarize", "article", "café", "write", "short", "poem", "about", "autumn", "translate", "sentence", "into",
    "french", "classify", "review", "positive", "negative", "naïve", "日本語",
  ]
  var text = ""
  for i in 0..<count {
    let n = 1 + random.below(14)
    let question = (0..<n).map { _ in words[random.below(words.count)] }.joined(separator: " ")
    let answer = (0..<(1 + random.below(30))).map { _ in words[random.below(words.count)] }.joined(separator: " ")
    text += JSONWriter.string(.object(["q": .string(question), "a": .string(answer + " \(i)"), "n": .int(i)])) + "\n"
  }
  return dir.write(name, text)
}

/// A path inside this repository (for shipped seeds and fixtures).
public func repositoryPath(_ relative: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(relative).path
}

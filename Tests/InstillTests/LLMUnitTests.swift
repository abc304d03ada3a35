import Foundation
import InstillCore
import InstillKit
import InstillLLM
import InstillTestSupport
import Synchronization
import Testing

struct LLMUnitTests {
  func response(_ text: String) -> LLMResponse {
    LLMResponse(choices: [LLMChoice(text: text, finishReason: "stop")], promptTokens: 3, completionTokens: 4)
  }

  @Test func journalSurvivesReopenAndCutsATornLastLine() async throws {
    let dir = TempDir()
    let path = dir.file("journal/shard-00000.jsonl")
    do {
      let journal = try Journal(path: path)
      try journal.append(key: "a", response: response("first"))
      try journal.append(key: "b", response: response("second"))
      journal.sync()
    }
    // A crash in the middle of a write leaves half a line.
    let handle = try #require(FileHandle(forWritingAtPath: path))
    handle.seekToEndOfFile()
    handle.write(Data("{\"key\":\"c\",\"resp".utf8))
    try handle.close()
    let reopened = try Journal(path: path)
    #expect(reopened.count == 2)
    #expect(reopened.response(for: "b")?.text == "second")
    #expect(reopened.response(for: "c") == nil)
    try reopened.append(key: "c", response: response("third"))
    reopened.sync()
    let again = try Journal(path: path)
    #expect(again.count == 3)
    #expect(again.response(for: "c")?.text == "third")
  }

  @Test func requestKeysCoverContentAndDraws() {
    let base = LLMRequest.chat([.user("hi")], model: "m", sampling: Sampling(temperature: 0.7))
    var other = base
    other.draw = 1
    #expect(base.key != other.key)
    #expect(base.key != LLMRequest.chat([.user("hi")], model: "m", sampling: Sampling(temperature: 0.8)).key)
    #expect(base.key != LLMRequest.chat([.user("hi")], model: "m2", sampling: Sampling(temperature: 0.7)).key)
    #expect(base.key != LLMRequest.completion("hi", model: "m", sampling: Sampling(temperature: 0.7)).key)
    #expect(base.key == LLMRequest.chat([.user("hi")], model: "m", sampling: Sampling(temperature: 0.7)).key)
  }

  @Test func templatesFillFieldsAndReportMissingOnes() async throws {
    let t = try PromptTemplate("Task: {instruction}\n{{literal}} {input}")
    let r = Record(["instruction": .string("Sum"), "input": .string("1 2")])
    #expect(try t.render(r).get() == "Task: Sum\n{literal} 1 2")
    guard case .failure(let missing) = t.render(Record(["instruction": .string("x")])) else {
      Issue.record("a missing field was not reported")
      return
    }
    #expect(missing.name == "input")
    #expect(throws: InstillError.self) { try PromptTemplate("bad {unclosed") }
  }

  @Test func resultsAreConsumedInInputOrderWhateverTheArrivalOrder() async throws {
    let control = RunControl()
    var seen: [Int] = []
    try await forEachInOrder(Array(0..<40), limit: 6, control: control) { item, _ in
      try await Task.sleep(for: .milliseconds(Int64((item * 7919) % 13)))
      return item * 2
    } consume: { value, index in
      #expect(value == index * 2)
      seen.append(index)
    }
    #expect(seen == Array(0..<40))
  }

  @Test func aStopWaitsForWorkInFlightThenThrows() async throws {
    let control = RunControl()
    let finished = Mutex(0)
    do {
      try await forEachInOrder(Array(0..<100), limit: 4, control: control) { item, _ in
        if item == 10 { control.requestStop("test") }
        try await Task.sleep(for: .milliseconds(5))
        finished.withLock { $0 += 1 }
        return item
      } consume: { _, _ in
      }
      Issue.record("no stop was reported")
    } catch is StoppedEarly {
      // Everything started was allowed to finish.
      #expect(finished.withLock { $0 } >= 11)
      #expect(finished.withLock { $0 } < 100)
    }
  }
}

import Foundation
import InstillCore

/// One generated example of a task.
public struct Instance: Hashable, Sendable {
  public var input: String
  public var output: String
  public init(input: String, output: String) {
    self.input = input
    self.output = output
  }
}

/// Turning an instance-generation reply into instances, as Self-Instruct's fine-tuning preparation does.
public enum InstanceParsing {
  /// Input-first replies: split on `Example N` markers (a colon after the number is
  /// eaten too — chat models add one), or, without markers, one pair when an
  /// `Output:` is present; otherwise nothing. (A reply cut by the length limit
  /// loses its last instance in `InstancesStage.select`, where the drop is counted.)
  public static func generation(_ reply: String) -> [Instance] {
    let raw = strip(reply)
    var instances: [Instance] = []
    if raw.contains(/Example\s?\d*[.:]?/) {
      for chunk in raw.split(separator: /Example\s?\d*[.:]?/, omittingEmptySubsequences: false) {
        let text = strip(String(chunk))
        if text.isEmpty { continue }
        instances.append(inputOutput(text))
      }
    } else if raw.contains(/Output\s*\d*\s*:/) {
      instances.append(inputOutput(raw))
    }
    return instances
  }

  /// Output-first replies: every `Class label:` starts an instance whose first line
  /// is the label (the output) and whose remaining lines are the input.
  public static func classification(_ reply: String) -> [Instance] {
    guard reply.contains("Class label:") else { return [] }
    var instances: [Instance] = []
    for chunk in reply.split(separator: "Class label:", omittingEmptySubsequences: false).dropFirst() {
      let text = strip(String(chunk))
      if let newline = text.firstIndex(of: "\n") {
        instances.append(
          Instance(
            input: strip(String(text[text.index(after: newline)...])),
            output: strip(String(text[..<newline]))))
      } else {
        instances.append(Instance(input: "", output: text))
      }
    }
    return instances
  }

  /// One chunk: the input is what precedes the first `Output N:`, the output what
  /// follows it up to the next `Output N:` or `Input N:`; a leading `Input N:` is removed.
  static func inputOutput(_ text: String) -> Instance {
    var input = ""
    var output = strip(text)
    if text.contains(/Output\s*\d*\s*:/) {
      let parts = text.split(separator: /Output\s*\d*\s*:/, omittingEmptySubsequences: false)
      input = strip(String(parts[0]))
      output = parts.count > 1 ? strip(String(parts[1])) : ""
    }
    if let cut = output.firstMatch(of: /Input\s*\d*\s*:/) { output = strip(String(output[..<cut.range.lowerBound])) }
    if let prefix = input.prefixMatch(of: /Input\s*\d*\s*:/) { input = String(input[prefix.range.upperBound...]) }
    return Instance(input: strip(input), output: strip(output))
  }

  /// Python's `str.strip()`.
  static func strip(_ s: String) -> String {
    s.trimmingCharacters(in: .whitespacesAndNewlines)
  }
}

/// Self-Instruct's instance filters, applied per task in the original order.
public enum InstanceFilters {
  /// Why an instance is unusable: input equal to output, empty output, or an input
  /// or output ending with a colon (usually an unfinished generation).
  public static func invalidReason(_ instance: Instance) -> String? {
    if instance.input == instance.output { return "input_equals_output" }
    if instance.output.isEmpty { return "empty_output" }
    if instance.input.hasSuffix(":") || instance.output.hasSuffix(":") { return "trailing_colon" }
    return nil
  }

  /// True when two instances share a non-empty input but differ in output: the
  /// original then drops all of the task's instances.
  public static func hasConflict(_ instances: [Instance]) -> Bool {
    var outputByInput: [String: String] = [:]
    for instance in instances where !instance.input.isEmpty {
      if let seen = outputByInput[instance.input], seen != instance.output { return true }
      outputByInput[instance.input] = instance.output
    }
    return false
  }

  /// Exact duplicates removed, first occurrence kept (the original used a set, whose
  /// order is not reproducible).
  public static func unique(_ instances: [Instance]) -> [Instance] {
    var seen = Set<Instance>()
    return instances.filter { seen.insert($0).inserted }
  }
}

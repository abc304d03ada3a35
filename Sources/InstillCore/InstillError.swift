/// An error a user sees: what went wrong, where (file, line, field), and the exit
/// code it maps to.
public struct InstillError: Error, Sendable, CustomStringConvertible {
  public enum Kind: Sendable {
    /// Invalid usage, pipeline file or input file: exit 2.
    case invalidInput
    /// The run failed (I/O, LLM endpoint down, a bug): exit 1.
    case failure
    /// Another process holds the run directory's lock: exit 4.
    case locked
  }

  public var kind: Kind
  public var message: String
  public var file: String?
  public var line: Int?
  public var field: String?

  public init(_ kind: Kind, _ message: String, file: String? = nil, line: Int? = nil, field: String? = nil) {
    self.kind = kind
    self.message = message
    self.file = file
    self.line = line
    self.field = field
  }

  public static func input(_ message: String, file: String? = nil, line: Int? = nil, field: String? = nil)
    -> InstillError
  {
    InstillError(.invalidInput, message, file: file, line: line, field: field)
  }

  public static func failure(_ message: String, file: String? = nil) -> InstillError {
    InstillError(.failure, message, file: file)
  }

  public var exitCode: Int32 {
    switch kind {
    case .invalidInput: return 2
    case .failure: return 1
    case .locked: return 4
    }
  }

  /// `file:line: field 'x': message`, leaving out the parts that are unknown.
  public var description: String {
    var location = ""
    if let file {
      location = file
      if let line { location += ":\(line)" }
      location += ": "
    }
    if let field { location += "field '\(field)': " }
    return location + message
  }
}

/// Thrown when a run stops early because of a budget or a signal (exit 3).
public struct StoppedEarly: Error, Sendable, CustomStringConvertible {
  public var reason: String
  public init(_ reason: String) { self.reason = reason }
  public var description: String {
    reason.hasPrefix("--max-cost")
      ? "stopped early: \(reason); run again with a larger --max-cost to go on (journaled replies are not paid again)"
      : "stopped early: \(reason); run the same command again to resume"
  }
}

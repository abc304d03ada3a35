import Foundation
import Synchronization
import Testing

/// The result of running the built `instill` binary.
public struct CommandResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String
}

public enum Binary {
  /// The `instill` executable built next to the test bundle (or `INSTILL_BIN`).
  public static var path: String {
    if let explicit = ProcessInfo.processInfo.environment["INSTILL_BIN"] { return explicit }
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = dir.appendingPathComponent("instill").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      dir = dir.deletingLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath + "/.build/debug/instill"
  }
}

/// Runs a program to completion and collects its output. The waiting happens on a
/// thread of its own: blocking the few threads of Swift's cooperative pool would
/// starve the in-process test servers.
@discardableResult
public func runProgram(
  _ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil
) async throws -> CommandResult {
  try await offPool { try runProgramBlocking(executable, arguments, cwd: cwd, environment: environment) }
}

/// Runs blocking work on a new thread and waits for it without holding a pool thread.
public func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread {
      do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
    }.start()
  }
}

/// Waits for a child process to exit without holding a pool thread.
public func waitForExit(_ process: Process) async {
  let box = UncheckedBox(process)
  _ = try? await offPool { box.value.waitUntilExit() }
}

public struct UncheckedBox<T>: @unchecked Sendable {
  public let value: T
  public init(_ value: T) { self.value = value }
}

public func runProgramBlocking(
  _ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil
) throws -> CommandResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
  if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  // Both pipes are drained at once, so a chatty child never blocks on a full pipe.
  let errBox = Mutex<Data>(Data())
  let errDone = DispatchSemaphore(value: 0)
  let errHandle = UncheckedBox(err.fileHandleForReading)
  Thread {
    let data = errHandle.value.readDataToEndOfFile()
    errBox.withLock { $0 = data }
    errDone.signal()
  }.start()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  errDone.wait()
  let errData = errBox.withLock { $0 }
  process.waitUntilExit()
  return CommandResult(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

@discardableResult
public func instill(_ arguments: String..., cwd: String? = nil, environment: [String: String]? = nil) async throws
  -> CommandResult
{
  try await runProgram(Binary.path, arguments, cwd: cwd, environment: environment)
}

/// Runs the built `instill` and records an issue (with its stderr) unless it
/// exits with `status`.
@discardableResult
public func instill(expect status: Int32, _ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation)
  async throws -> CommandResult
{
  let result = try await runProgram(Binary.path, arguments)
  #expect(
    result.status == status, "instill \(arguments.joined(separator: " ")): \(result.stderr)",
    sourceLocation: sourceLocation)
  return result
}

/// Starts the built `instill` in the background (for tests that kill or signal it).
/// `stderr`: a Pipe or FileHandle to receive its log; inherited when nil.
public func launchInstill(_ arguments: [String], stderr: Any? = nil) throws -> Process {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: Binary.path)
  process.arguments = arguments
  if let stderr { process.standardError = stderr }
  try process.run()
  return process
}

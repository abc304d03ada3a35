import Foundation
import InstillCore
import InstillLLM
import Logging
import Synchronization

/// `provider: command`: no server; a local command answers each batch input
/// file with an output file in the batch API's formats (vLLM's offline batch
/// runner does, for GPU boxes without a server). The input is written beside
/// the shard's journal and the batch recorded before the command starts; a
/// run stopped or killed while it runs starts it again on the next run (it is
/// local: nothing is paid twice).
public final class CommandBatches: BatchingBackend, BatchService {
  let settings: LLMSettings
  let logger: Logger
  let batchShards = Mutex<[String: ShardBatches]>([:])
  /// Commands running (process group ids), by batch id; and those that ended without output, with their status.
  final class Runs: Sendable {
    let running = Mutex<[String: Int32]>([:])
    let ended = Mutex<[String: Int32]>([:])
  }
  private let runs = Runs()

  public init(settings: LLMSettings, logger: Logger) {
    self.settings = settings
    self.logger = logger
  }

  public var defaultModel: String { settings.model ?? "default" }
  public var defaultSampling: Sampling { settings.sampling }
  public var defaultExtraBody: JSONObject { settings.extraBody }
  public var reasoning: ReasoningSettings { settings.reasoning }
  public var maxConcurrency: Int { settings.batch.maxRequests }
  public var supportsBatches: Bool { true }
  public var batchesByDefault: Bool { true }
  public var batchCapacity: Int { settings.batch.maxRequests }
  var batchSettings: BatchSettings { settings.batch }

  public func send(_ request: LLMRequest) async throws -> (Result<LLMResponse, LLMFailure>, LLMAttempts) {
    throw InstillError.input(
      "provider command answers only batches of per-record stages; a stage asked it a single request "
        + "(growth stages such as self_instruct, or batch: false, need a server)", field: "llm.provider")
  }

  public func sendInBatch(_ request: LLMRequest, key: String, journalPath: String, control: RunControl) async throws
    -> (Result<LLMResponse, LLMFailure>, LLMAttempts)
  {
    try await answerInBatch(request, key: key, journalPath: journalPath, control: control)
  }

  /// `shard-00000.local-<hash>.input.jsonl` (and `.output.jsonl`) beside the journal.
  static func file(_ journal: String, _ id: String, _ kind: String) -> String {
    Journal.sibling(of: journal, ".\(id).\(kind).jsonl")
  }

  func startBatch(_ lines: [UInt8], url: String, besideJournal journal: String) async throws
    -> (id: String, status: String, input: String)
  {
    let id = "local-" + SHA256.hex(lines).prefix(16)
    let input = Self.file(journal, id, "input")
    try FileSystem.writeAtomically(lines, to: input)
    return (id, "in_progress", input)
  }

  func checkBatch(_ id: String, besideJournal journal: String) async throws -> (status: String, files: [[UInt8]]) {
    let output = Self.file(journal, id, "output")
    if FileSystem.exists(output) { return ("completed", [try FileSystem.read(output)]) }
    if let status = runs.ended.withLock({ $0.removeValue(forKey: id) }) {
      logger.error("batch command for \(id) exited with status \(status); its requests go into a new batch")
      return ("failed", [])
    }
    if runs.running.withLock({ $0[id] != nil }) { return ("in_progress", []) }
    try start(id, input: Self.file(journal, id, "input"), output: output)
    return ("in_progress", [])
  }

  /// Starts the command on `input`; its output becomes `output` only when it exits 0. It
  /// runs in its own process group, tied to instill (killed with it, even by kill -9),
  /// with its output in `….command.log` beside the input.
  func start(_ id: String, input: String, output: String) throws {
    let partial = output + ".partial"
    FileSystem.remove(partial)
    let command = settings.batch.command!.replacingOccurrences(of: "{input}", with: Self.quoted(input))
      .replacingOccurrences(of: "{output}", with: Self.quoted(partial))
    let runs = self.runs
    let log = String(input.dropLast(".input.jsonl".count)) + ".command.log"
    let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
    runs.running.withLock { $0[id] = 0 }
    let pid: Int32
    do {
      pid = try LocalServer.spawnTied(
        ["/bin/sh", "-c", command], environment: environment, logPath: log, what: "batch command"
      ) { status in
        // Exited normally with status 0 (a wait status of 0), and wrote its output.
        if status == 0, FileSystem.exists(partial) {
          try? FileSystem.rename(partial, to: output)
        } else {
          runs.ended.withLock { $0[id] = status == 0 ? -1 : status }
        }
        runs.running.withLock { _ = $0.removeValue(forKey: id) }
      }
    } catch {
      runs.running.withLock { _ = $0.removeValue(forKey: id) }
      throw error
    }
    runs.running.withLock { if $0[id] != nil { $0[id] = pid } }
    logger.info("batch \(id): running \(command) (pid \(pid), log \(log))")
  }

  static func quoted(_ path: String) -> String { "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'" }

  func batchReply(status: Int, body: JSONObject, for request: LLMRequest) -> Result<LLMResponse, LLMFailure> {
    OpenAIClient.reply(body, for: request)
  }

  /// Stops the commands still running, their whole process groups (a stopped run starts them again when it resumes).
  public func shutdown() async {
    for pid in runs.running.withLock({ Array($0.values) }) where pid > 0 {
      logger.info("stopping the batch command (pid \(pid))")
      kill(-pid, SIGTERM)
    }
  }
}

import AsyncHTTPClient
import CSpawn
import Foundation
import InstillCore
import Logging
import Synchronization

/// Where the embedded llama-server and model live.
public enum LocalModel {
  public static let modelName = "SmolLM2-135M-Instruct"

  static var cache: String {
    ProcessInfo.processInfo.environment["INSTILL_CACHE"] ?? (NSHomeDirectory() + "/.cache/instill")
  }

  public static var serverPath: String {
    ProcessInfo.processInfo.environment["INSTILL_LLAMA_SERVER"] ?? cache + "/llama-cpp-0.3.36/bin/llama-server"
  }

  public static var modelPath: String {
    ProcessInfo.processInfo.environment["INSTILL_LOCAL_MODEL"] ?? cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  }

  /// Throws a message that says exactly what to run when something is missing.
  public static func check() throws(InstillError) {
    var missing: [String] = []
    if !FileManager.default.isExecutableFile(atPath: serverPath) { missing.append("llama-server (\(serverPath))") }
    if !FileSystem.exists(modelPath) { missing.append("the local model (\(modelPath))") }
    guard missing.isEmpty else {
      throw InstillError.failure(
        "provider local needs \(missing.joined(separator: " and ")). Run Scripts/install-local-model, "
          + "or set INSTILL_LLAMA_SERVER and INSTILL_LOCAL_MODEL, or give the pipeline an llm.base_url")
    }
  }
}

/// A running llama-server child process. It is tied to a dedicated thread of
/// ours, so it dies with instill even on kill -9; `stop()` ends it on every
/// normal exit path.
public final class LocalServer: Sendable {
  public let port: Int
  public let pid: Int32
  let logPath: String

  private init(port: Int, pid: Int32, logPath: String) {
    self.port = port
    self.pid = pid
    self.logPath = logPath
  }

  public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

  /// Starts llama-server with `parallel` slots and waits until `/health` says ok.
  /// With `embeddings` it serves `/v1/embeddings` (mean pooling over the tokens).
  public static func start(
    parallel: Int, threads: Int?, contextPerSlot: Int, logPath: String, logger: Logger, embeddings: Bool = false
  ) async throws -> LocalServer {
    try LocalModel.check()
    let port = try freePort()
    try FileSystem.createDirectory((logPath as NSString).deletingLastPathComponent)
    let arguments =
      [
        LocalModel.serverPath, "-m", LocalModel.modelPath, "--host", "127.0.0.1", "--port", "\(port)",
        "--parallel", "\(parallel)", "-c", "\(contextPerSlot * parallel)",
        "--threads", "\(threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount))",
        "--no-webui",
      ] + (embeddings ? ["--embeddings", "--pooling", "mean"] : [])
    var environment = ProcessInfo.processInfo.environment
    // Spinning OpenMP threads starve everything else on small machines.
    environment["OMP_WAIT_POLICY"] = "passive"
    let pid = try spawnTied(arguments, environment: environment.map { "\($0.key)=\($0.value)" }, logPath: logPath)
    let server = LocalServer(port: port, pid: pid, logPath: logPath)
    logger.info(
      "started llama-server (pid \(pid), port \(port), --parallel \(parallel)\(embeddings ? ", --embeddings" : "")) with \(LocalModel.modelName)"
    )
    do {
      try await server.waitUntilHealthy(timeout: 180)
    } catch {
      server.stop()
      throw error
    }
    return server
  }

  /// Polls `/health` until it answers 200.
  func waitUntilHealthy(timeout: Double) async throws {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while ContinuousClock.now < deadline {
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        throw InstillError.failure("llama-server exited during start-up; its log: \(logPath)\n\(logTail())")
      }
      var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health")
      request.method = .GET
      if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status == .ok {
        _ = try? await response.body.collect(upTo: 1 << 16)
        return
      }
      try await Task.sleep(for: .milliseconds(150))
    }
    throw InstillError.failure(
      "llama-server did not become healthy within \(Int(timeout)) s; its log: \(logPath)\n\(logTail())")
  }

  func logTail() -> String {
    guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "" }
    return text.split(separator: "\n").suffix(15).joined(separator: "\n")
  }

  /// Ends the server: SIGTERM, then SIGKILL after 5 s.
  public func stop() {
    guard kill(pid, 0) == 0 else { return }
    kill(pid, SIGTERM)
    for _ in 0..<50 {
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid || kill(pid, 0) != 0 { return }
      usleep(100_000)
    }
    kill(pid, SIGKILL)
  }

  static func freePort() throws(InstillError) -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw InstillError.failure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw InstillError.failure("cannot find a free port: \(String(cString: strerror(errno)))") }
    let named = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw InstillError.failure("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  /// Spawns from a thread that lives until the child exits (the child's
  /// parent-death signal fires when that thread ends); `onExit` gets its wait status.
  static func spawnTied(
    _ arguments: [String], environment: [String], logPath: String, what: String = "llama-server",
    onExit: (@Sendable (Int32) -> Void)? = nil
  ) throws(InstillError) -> Int32 {
    let result = Mutex<(pid: Int32, error: Int32)?>(nil)
    let started = DispatchSemaphore(value: 0)
    let thread = Thread {
      let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
      var argv = arguments.map { strdup($0) } + [nil]
      var envp = environment.map { strdup($0) } + [nil]
      let pid = cspawn_tied(arguments[0], &argv, &envp, logFD)
      let spawnError = errno
      argv.forEach { free($0) }
      envp.forEach { free($0) }
      if logFD >= 0 { close(logFD) }
      result.withLock { $0 = (pid, spawnError) }
      started.signal()
      guard pid > 0 else { return }
      var status: Int32 = 0
      while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
      onExit?(status)
    }
    thread.name = "\(what)-parent"
    thread.start()
    started.wait()
    guard let (pid, spawnError) = result.withLock({ $0 }), pid > 0 else {
      throw InstillError.failure(
        "cannot start \(what): \(String(cString: strerror(result.withLock { $0?.error ?? 0 })))")
    }
    _ = spawnError
    return pid
  }
}

import CCurl
import Foundation
import InstillCore

/// How URL sources are fetched.
public struct FetchSettings: Sendable {
  /// Seconds to establish a connection.
  public var connectTimeout = 30
  /// A transfer slower than 1 byte/s for this many seconds is abandoned (and retried).
  public var stallTimeout = 60
  /// Largest accepted download, in bytes.
  public var maxBytes: Int64 = 1 << 30
  /// Further attempts after a failed one (connection errors, timeouts, 429, 5xx);
  /// each resumes from the bytes already on disk.
  public var retries = 3
  /// Seconds before the first retry; doubled for each further one.
  public var retryDelay = 1.0

  public init() {}

  /// Retries without jitter: one fetcher per stage, so nothing retries in step.
  var retryPolicy: RetryPolicy { RetryPolicy(maxRetries: retries, baseDelay: retryDelay, jitter: false) }

  mutating func parse(_ params: ConfigMap) throws(InstillError) {
    connectTimeout = try params.int("connect_timeout", default: connectTimeout, in: 1...3600)
    stallTimeout = try params.int("stall_timeout", default: stallTimeout, in: 1...86_400)
    maxBytes = Int64(try params.int("max_bytes", default: Int(maxBytes), in: 1...Int.max))
    retries = try params.int("retries", default: retries, in: 0...100)
    retryDelay = try params.double("retry_delay", default: retryDelay, in: 0...600)
    try params.finish()
  }
}

/// A fetched URL: the local file it is now, and whether the download resumed
/// bytes left by an earlier, interrupted attempt.
struct FetchedFile: Sendable {
  var path: String
  var resumedFrom: Int64
  var contentType: String?
}

/// Why a URL could not be fetched: a short counter reason and a message.
struct FetchFailure: Error, Sendable {
  var reason: String
  var message: String
}

/// Downloads URLs (`http`, `https`, `ftp`, `file`) with libcurl into a folder
/// of the run directory. A download is written to `NAME.part` and renamed when
/// complete; an interrupted one is resumed from the bytes on disk with a range
/// request, by a retry or by the next run. A finished file is never fetched again.
struct Fetcher: Sendable {
  let directory: String
  let settings: FetchSettings

  private static let setup: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

  /// The local name of a URL: a hash of the URL (unique) and its last path component (readable).
  func localPath(_ url: String) -> String {
    var hasher = SHA256()
    hasher.update(url)
    let hash = String(hasher.hexDigest().prefix(16))
    let last = url.split(separator: "?").first?.split(separator: "/").last.map(String.init) ?? ""
    let safe = String(
      last.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(80))
    return directory + "/" + hash + (safe.isEmpty || safe.contains(":") ? "" : "-" + safe)
  }

  /// `fetch` on a thread of its own: the libcurl transfer and its retry waits
  /// block, which must not happen on a thread of the cooperative pool.
  func fetchOffPool(_ url: String, log: @escaping @Sendable (String) -> Void) async -> Result<FetchedFile, FetchFailure>
  {
    await onOwnThread("fetch") { fetch(url, log: log) }
  }

  func fetch(_ url: String, log: (String) -> Void) -> Result<FetchedFile, FetchFailure> {
    let final = localPath(url)
    if FileSystem.exists(final) { return .success(FetchedFile(path: final, resumedFrom: 0, contentType: nil)) }
    guard Self.setup else { return .failure(FetchFailure(reason: "curl_init", message: "libcurl could not start")) }
    do {
      try FileSystem.createDirectory(directory)
    } catch {
      return .failure(FetchFailure(reason: "io", message: "\(error)"))
    }
    let part = final + ".part"
    // Where the download first went on from bytes already on disk (an earlier
    // run's or an earlier attempt's), 0 if it never did.
    var resumedFrom: Int64 = 0
    // The last failure that is not merely the consequence of resuming (a server
    // without range support, a stale part file): what to report in the end.
    var cause: FetchFailure?
    var attempt = 0
    while true {
      let outcome = transfer(url, to: part)
      if resumedFrom == 0 { resumedFrom = outcome.resumedFrom }
      switch outcome.result {
      case .success(let type):
        guard rename(part, final) == 0 else {
          return .failure(
            FetchFailure(reason: "io", message: "cannot rename \(part): \(String(cString: strerror(errno)))"))
        }
        return .success(FetchedFile(path: final, resumedFrom: resumedFrom, contentType: type))
      case .failure(let failure):
        let resumeConsequence = ["no_range_support", "http_416"].contains(failure.failure.reason)
        if !resumeConsequence { cause = failure.failure }
        guard failure.retry, attempt < settings.retryPolicy.maxRetries else {
          // A stalled download retried on a server without ranges ends in
          // no_range_support; the stall is what went wrong.
          if resumeConsequence, let cause {
            return .failure(
              FetchFailure(reason: cause.reason, message: cause.message + "; then: " + failure.failure.message))
          }
          return .failure(failure.failure)
        }
        if failure.restart { FileSystem.remove(part) }
        attempt += 1
        let delay = settings.retryPolicy.delay(retry: attempt)
        log("\(url): \(failure.failure.message); retrying in \(delay) s (\(FileSystem.size(part) ?? 0) bytes kept)")
        Thread.sleep(forTimeInterval: delay)  // on the fetch's own thread (`fetchOffPool`)
      }
    }
  }

  private struct AttemptFailure: Error {
    var failure: FetchFailure
    var retry: Bool
    /// The partial file is unusable (the server ignored the range, or it is larger than the whole).
    var restart = false

    /// A failed attempt as `transfer` returns it: reason, message, what to do next.
    static func result(_ reason: String, _ message: String, retry: Bool, restart: Bool = false, resumed: Int64 = 0)
      -> (result: Result<String?, AttemptFailure>, resumedFrom: Int64)
    {
      (
        .failure(
          AttemptFailure(failure: FetchFailure(reason: reason, message: message), retry: retry, restart: restart)),
        resumed
      )
    }
  }

  /// One libcurl transfer, appending to `part` from its current size.
  private func transfer(_ url: String, to part: String) -> (result: Result<String?, AttemptFailure>, resumedFrom: Int64)
  {
    let fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      return AttemptFailure.result("io", "cannot write \(part): \(String(cString: strerror(errno)))", retry: false)
    }
    let sink = DownloadSink(fd: fd, existing: Int64(lseek(fd, 0, SEEK_END)), limit: settings.maxBytes)
    defer { close(fd) }
    guard let curl = curl_easy_init() else {
      return AttemptFailure.result("curl_init", "libcurl could not start", retry: false)
    }
    defer { curl_easy_cleanup(curl) }
    var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    let context = Unmanaged.passUnretained(sink).toOpaque()
    let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errors in
      _ = instill_curl_set_string(curl, CURLOPT_URL, url)
      _ = instill_curl_set_string(curl, CURLOPT_PROTOCOLS_STR, "http,https,ftp,file")
      _ = instill_curl_set_string(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https,ftp")
      _ = instill_curl_set_long(curl, CURLOPT_FOLLOWLOCATION, 1)
      _ = instill_curl_set_long(curl, CURLOPT_MAXREDIRS, 10)
      _ = instill_curl_set_long(curl, CURLOPT_FAILONERROR, 1)
      _ = instill_curl_set_long(curl, CURLOPT_NOSIGNAL, 1)
      _ = instill_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT, settings.connectTimeout)
      _ = instill_curl_set_long(curl, CURLOPT_LOW_SPEED_LIMIT, 1)
      _ = instill_curl_set_long(curl, CURLOPT_LOW_SPEED_TIME, settings.stallTimeout)
      _ = instill_curl_set_offset(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(settings.maxBytes))
      _ = instill_curl_set_string(curl, CURLOPT_USERAGENT, "instill (instruction dataset builder)")
      _ = instill_curl_set_string(curl, CURLOPT_ACCEPT_ENCODING, "")  // any encoding curl can decode
      _ = instill_curl_set_pointer(curl, CURLOPT_ERRORBUFFER, errors.baseAddress)
      if sink.existing > 0 { _ = instill_curl_set_offset(curl, CURLOPT_RESUME_FROM_LARGE, curl_off_t(sink.existing)) }
      _ = instill_curl_set_write(curl, downloadWrite, context)
      return curl_easy_perform(curl)
    }
    let resumed = sink.existing
    let status = instill_curl_response_code(curl)
    let type = instill_curl_content_type(curl).map { String(cString: $0) }
    let detail = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if sink.writeError != 0 {
      return AttemptFailure.result(
        "io", "cannot write \(part): \(String(cString: strerror(sink.writeError)))", retry: false, resumed: resumed)
    }
    if code == CURLE_OK {
      guard fsync(fd) == 0 else {
        return AttemptFailure.result("io", "cannot sync \(part)", retry: false, resumed: resumed)
      }
      return (.success(type), resumed)
    }
    let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    return classify(code, status: status, message: message, tooLarge: sink.tooLarge, resumed: resumed)
  }

  /// What a failed transfer means: its counter reason, and whether to retry
  /// (and from scratch: the part file is unusable).
  private func classify(_ code: CURLcode, status: Int, message: String, tooLarge: Bool, resumed: Int64)
    -> (result: Result<String?, AttemptFailure>, resumedFrom: Int64)
  {
    switch code {
    case CURLE_HTTP_RETURNED_ERROR:
      if status == 416 {  // the range starts at or after the end: the part file is unusable
        return AttemptFailure.result("http_416", message, retry: true, restart: true, resumed: resumed)
      }
      let transient = status == 408 || status == 429 || status >= 500
      return AttemptFailure.result("http_\(status)", message, retry: transient, resumed: resumed)
    case CURLE_RANGE_ERROR:
      return AttemptFailure.result("no_range_support", message, retry: true, restart: true, resumed: resumed)
    case CURLE_FILESIZE_EXCEEDED:
      return AttemptFailure.result(
        "too_large", "larger than max_bytes (\(settings.maxBytes))", retry: false, restart: true, resumed: resumed)
    case CURLE_WRITE_ERROR where tooLarge:
      return AttemptFailure.result(
        "too_large", "larger than max_bytes (\(settings.maxBytes))", retry: false, restart: true, resumed: resumed)
    case CURLE_OPERATION_TIMEDOUT:
      return AttemptFailure.result("timeout", message, retry: true, resumed: resumed)
    case CURLE_COULDNT_CONNECT, CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING,
      CURLE_COULDNT_RESOLVE_HOST, CURLE_SSL_CONNECT_ERROR, CURLE_FTP_ACCEPT_TIMEOUT, CURLE_HTTP2, CURLE_HTTP2_STREAM:
      return AttemptFailure.result("connection", message, retry: true, resumed: resumed)
    case CURLE_FILE_COULDNT_READ_FILE, CURLE_REMOTE_FILE_NOT_FOUND:
      return AttemptFailure.result("not_found", message, retry: false, restart: true, resumed: resumed)
    default:
      return AttemptFailure.result("curl_\(code.rawValue)", message, retry: false, resumed: resumed)
    }
  }
}

/// Where libcurl's write callback appends the body.
private final class DownloadSink {
  let fd: Int32
  let existing: Int64
  let limit: Int64
  var written: Int64 = 0
  var writeError: Int32 = 0
  var tooLarge = false

  init(fd: Int32, existing: Int64, limit: Int64) {
    self.fd = fd
    self.existing = existing
    self.limit = limit
  }
}

private func downloadWrite(
  _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
  guard let data, let context else { return 0 }
  let sink = Unmanaged<DownloadSink>.fromOpaque(context).takeUnretainedValue()
  let total = size * count
  if sink.existing + sink.written + Int64(total) > sink.limit {
    sink.tooLarge = true
    return 0
  }
  var offset = 0
  while offset < total {
    let n = write(sink.fd, data + offset, total - offset)
    if n < 0 {
      if errno == EINTR { continue }
      sink.writeError = errno
      return 0
    }
    offset += n
  }
  sink.written += Int64(total)
  return total
}

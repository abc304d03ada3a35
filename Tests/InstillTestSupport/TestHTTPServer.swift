import Foundation
import InstillCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small in-process HTTP server on loopback for tests: a fake OpenAI endpoint
/// that injects faults a real server will not produce on demand, or a recording
/// proxy in front of the real llama-server.
public final class TestHTTPServer: Sendable {
  public enum Reply: Sendable {
    case respond(status: Int, headers: [(String, String)], body: [UInt8])
    /// Announces a longer body than it sends, then closes.
    case truncated(body: [UInt8])
    /// Sends `head` headers announcing `total` bytes (status 200, or 206 with a
    /// Content-Range when `rangeStart` is set), then only `body`, then closes.
    case partial(status: Int, headers: [(String, String)], body: [UInt8], announced: Int)
    /// Closes the connection without answering.
    case reset
    /// Never answers (the client's timeout must fire).
    case hang
    /// Sends the head announcing `announced` bytes and `body`, then nothing more
    /// while the connection stays open (a stalled download).
    case stalled(status: Int, headers: [(String, String)], body: [UInt8], announced: Int)
  }

  public typealias Handler = @Sendable (_ method: String, _ uri: String, _ body: [UInt8]) async -> Reply
  /// A handler that also sees the request headers (lower-case names).
  public typealias HeadersHandler =
    @Sendable (
      _ method: String, _ uri: String, _ headers: [String: String],
      _ body: [UInt8]
    ) async -> Reply

  public let channel: any Channel
  public let group: MultiThreadedEventLoopGroup

  public var port: Int { channel.localAddress?.port ?? 0 }
  public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

  public convenience init(headerCheck: (@Sendable (HTTPHeaders) -> Bool)? = nil, handler: @escaping Handler) throws {
    try self.init(headerCheck: headerCheck, withHeaders: { method, uri, _, body in await handler(method, uri, body) })
  }

  public init(headerCheck: (@Sendable (HTTPHeaders) -> Bool)? = nil, withHeaders handler: @escaping HeadersHandler)
    throws
  {
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    channel = try ServerBootstrap(group: group)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap {
          channel.pipeline.addHandler(RequestHandler(headerCheck: headerCheck, handler: handler))
        }
      }
      .bind(host: "127.0.0.1", port: 0).wait()
  }

  public func stop() {
    try? channel.close().wait()
    try? group.syncShutdownGracefully()
  }

  final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let handler: HeadersHandler
    let headerCheck: (@Sendable (HTTPHeaders) -> Bool)?
    var head: HTTPRequestHead?
    var body: [UInt8] = []

    init(headerCheck: (@Sendable (HTTPHeaders) -> Bool)?, handler: @escaping HeadersHandler) {
      self.headerCheck = headerCheck
      self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      switch unwrapInboundIn(data) {
      case .head(let h):
        head = h
        body = []
      case .body(var buffer):
        body += buffer.readBytes(length: buffer.readableBytes) ?? []
      case .end:
        guard let head else { return }
        let (method, uri, bytes) = (head.method.rawValue, head.uri, body)
        let channel = context.channel
        let version = head.version
        let handler = self.handler
        if let headerCheck, !headerCheck(head.headers) {
          Self.send(
            .respond(status: 401, headers: [], body: Array("{\"error\":\"bad key\"}".utf8)), on: channel,
            version: version)
          return
        }
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name.lowercased()] = value }
        Task {
          let reply = await handler(method, uri, headers, bytes)
          channel.eventLoop.execute {
            Self.send(reply, on: channel, version: version)
          }
        }
      }
    }

    static func send(_ reply: Reply, on channel: any Channel, version: HTTPVersion) {
      switch reply {
      case .respond(let status, let headers, let body):
        var h = HTTPHeaders(headers)
        h.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
        if h.first(name: "Content-Type") == nil { h.add(name: "Content-Type", value: "application/json") }
        channel.write(
          HTTPServerResponsePart.head(
            HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: h)),
          promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
      case .truncated(let body):
        var h = HTTPHeaders()
        h.add(name: "Content-Length", value: "\(body.count + 500)")
        h.add(name: "Content-Type", value: "application/json")
        channel.write(
          HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: .ok, headers: h)), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        channel.close(promise: nil)
      case .partial(let status, let headers, let body, let announced):
        var h = HTTPHeaders(headers)
        h.replaceOrAdd(name: "Content-Length", value: "\(announced)")
        channel.write(
          HTTPServerResponsePart.head(
            HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: h)),
          promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body)))).whenComplete { _ in
          if body.count < announced {
            channel.close(promise: nil)
          } else {
            channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
          }
        }
      case .reset:
        channel.close(promise: nil)
      case .hang:
        break
      case .stalled(let status, let headers, let body, let announced):
        var h = HTTPHeaders(headers)
        h.replaceOrAdd(name: "Content-Length", value: "\(announced)")
        channel.write(
          HTTPServerResponsePart.head(
            HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: h)),
          promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
      }
    }
  }
}

/// A deterministic fake model: the reply is a function of the prompt, so a run
/// with faults must give exactly the dataset of a run without.
public enum FakeModel {
  public static func promptText(_ body: [UInt8]) -> (endpointIsChat: Bool, text: String)? {
    guard let o = try? JSONParser.parse(body).objectValue else { return nil }
    if let messages = o["messages"]?.arrayValue {
      return (true, messages.compactMap { $0.objectValue?["content"]?.stringValue }.joined(separator: "\n"))
    }
    return o["prompt"]?.stringValue.map { (false, $0) }
  }

  /// A 200 reply carrying `text` as a chat message or a completion.
  public static func respond(_ text: String, chat: Bool, finishReason: String = "stop") -> TestHTTPServer.Reply {
    let choice: JSONObject =
      chat
      ? [
        "index": .int(0), "message": .object(["role": .string("assistant"), "content": .string(text)]),
        "finish_reason": .string(finishReason),
      ]
      : ["index": .int(0), "text": .string(text), "finish_reason": .string(finishReason)]
    let reply: JSONObject = [
      "choices": .array([.object(choice)]),
      "usage": .object(["prompt_tokens": .int(100), "completion_tokens": .int(text.count / 4 + 1)]),
    ]
    return .respond(status: 200, headers: [], body: JSONWriter.bytes(.object(reply)))
  }

  public static func reply(to body: [UInt8]) -> [UInt8] {
    guard let (chat, prompt) = promptText(body) else { return Array("{\"error\":\"bad request\"}".utf8) }
    let text = "Answer " + String(SHA256.hex(prompt).prefix(12)) + " for: " + String(prompt.suffix(40))
    let choice: JSONValue =
      chat
      ? .object([
        "index": .int(0), "message": .object(["role": .string("assistant"), "content": .string(text)]),
        "finish_reason": .string("stop"),
      ])
      : .object(["index": .int(0), "text": .string(text), "finish_reason": .string("stop")])
    let object: JSONObject = [
      "id": .string("fake"), "object": .string(chat ? "chat.completion" : "text_completion"),
      "choices": .array([choice]),
      "usage": .object(["prompt_tokens": .int(prompt.count / 4 + 1), "completion_tokens": .int(text.count / 4 + 1)]),
    ]
    return JSONWriter.bytes(.object(object))
  }
}

/// Counts what a test server received.
public final class RequestLog: Sendable {
  public init() {}
  private let state = Mutex<[String]>([])
  public func add(_ key: String) { state.withLock { $0.append(key) } }
  public var all: [String] { state.withLock { $0 } }
  public var count: Int { state.withLock { $0.count } }
}

import Foundation
import InstillCore

/// A scripted model that thinks before it answers, in each of the ways servers
/// hand thinking back: it takes another scripted model's 200 reply and adds a
/// trace to each choice. The answer stays the wrapped model's, so a pipeline
/// that drops thinking must make the same dataset as against the wrapped model.
public enum ThinkingModel {
  public enum Form: String, Sendable, CaseIterable {
    /// `message.reasoning_content` (vLLM and SGLang with a parser, DeepSeek, llama-server --reasoning-format deepseek).
    case field
    /// `message.reasoning` (some gateways).
    case reasoningField
    /// `<think>…</think>` inline before the answer.
    case inline
    /// Inline, with the opening marker left in the prompt (only `</think>` in the reply: Qwen3's and R1's templates).
    case closeOnly
    /// A separate field and an inline block at once.
    case both
    /// A custom pair of markers (`reasoning_tags: ["[[plan]]", "[[/plan]]"]`).
    case customTags
    /// Every `cutEvery`-th reply thinks until the length limit: an opened block that never closes, no answer.
    case unclosed
  }

  public static let customTags = ("[[plan]]", "[[/plan]]")

  /// The trace of a reply: a few sentences of its own, made from the answer so each is distinct.
  public static func trace(for answer: String) -> String {
    "Let me work this out. The request asks for something specific; I consider "
      + String(SHA256.hex(answer).prefix(10)) + " first, then check the details before I answer."
  }

  /// `reply` with thinking added in `form`. For `.unclosed`, every reply whose
  /// answer hashes to a multiple of `cutEvery` is replaced by one cut while thinking.
  public static func thinking(_ reply: TestHTTPServer.Reply, form: Form, cutEvery: Int = 3)
    -> TestHTTPServer.Reply
  {
    guard case .respond(200, let headers, let body) = reply, var object = try? JSONParser.parse(body).objectValue,
      case .array(let choices)? = object["choices"]
    else { return reply }
    var reasoningTokens = 0
    object["choices"] = .array(
      choices.map { item in
        guard var choice = item.objectValue else { return item }
        let chat = choice["message"] != nil
        var message = choice["message"]?.objectValue ?? [:]
        let answer = (chat ? message["content"]?.stringValue : choice["text"]?.stringValue) ?? ""
        let trace = trace(for: answer)
        reasoningTokens += trace.count / 4
        var text = answer
        switch form {
        case .field: message["reasoning_content"] = .string(trace)
        case .reasoningField: message["reasoning"] = .string(trace)
        case .inline: text = "<think>\n\(trace)\n</think>\n\n\(answer)"
        case .closeOnly: text = "\(trace)\n</think>\n\n\(answer)"
        case .both:
          message["reasoning_content"] = .string(trace)
          text = "<think>\nAnd once more, inline.\n</think>\n\(answer)"
        case .customTags: text = "\(customTags.0)\(trace)\(customTags.1)\n\(answer)"
        case .unclosed:
          let cut = (Int(SHA256.hex(answer).prefix(6), radix: 16) ?? 0) % cutEvery == 0
          text = cut ? "<think>\n\(trace) And then I keep going and going" : "<think>\n\(trace)\n</think>\n\n\(answer)"
          if cut { choice["finish_reason"] = .string("length") }
        }
        if chat {
          message["content"] = .string(text)
          choice["message"] = .object(message)
        } else {
          choice["text"] = .string(text)
          for (key, value) in message { choice[key] = value }
        }
        return .object(choice)
      })
    var usage = object["usage"]?.objectValue ?? [:]
    usage["completion_tokens"] = .int((usage["completion_tokens"]?.intValue ?? 0) + reasoningTokens)
    usage["completion_tokens_details"] = .object(["reasoning_tokens": .int(reasoningTokens)])
    object["usage"] = .object(usage)
    return .respond(status: 200, headers: headers, body: JSONWriter.bytes(.object(object)))
  }
}

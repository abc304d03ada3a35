/// Prompt text kept as a file in a method's `Prompts/` folder and embedded in
/// the binary at build time (SwiftPM's `embedInCode`), so the text is edited as
/// text and the binary still stands alone.
public enum PromptText {
  /// The file's text without its final line break.
  public static func embedded(_ bytes: some Collection<UInt8>) -> String {
    let text = String(decoding: bytes, as: UTF8.self)
    return text.hasSuffix("\n") ? String(text.dropLast()) : text
  }
}

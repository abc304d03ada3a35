import Foundation

/// A fresh temporary folder, removed when the value is dropped.
public final class TempDir {
  public let path: String

  public init(_ name: String = "instill-test") {
    let template = NSTemporaryDirectory() + "/\(name)-XXXXXX"
    var bytes = Array(template.utf8CString)
    let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    path = made.map { String(cString: $0) } ?? template
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  public func file(_ name: String) -> String { path + "/" + name }

  @discardableResult
  public func write(_ name: String, _ text: String) -> String {
    let p = file(name)
    try? FileManager.default.createDirectory(
      atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
    return p
  }

  @discardableResult
  public func write(_ name: String, bytes: [UInt8]) -> String {
    let p = file(name)
    _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
    return p
  }
}

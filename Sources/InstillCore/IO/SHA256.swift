@preconcurrency import Crypto
import Foundation

/// SHA-256 for dataset checksums, content fingerprints and journal keys: a thin
/// incremental wrapper over swift-crypto's vetted implementation that speaks in
/// bytes, strings and lowercase hex.
public struct SHA256: Sendable {
  private var hasher = Crypto.SHA256()

  public init() {}

  public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
    if let done: Void = bytes.withContiguousStorageIfAvailable({
      hasher.update(bufferPointer: UnsafeRawBufferPointer($0))
    }) {
      return done
    }
    Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) }
  }

  public mutating func update(_ text: String) { update(Array(text.utf8)) }

  /// The digest of everything added so far.
  public func finalize() -> [UInt8] { Array(hasher.finalize()) }

  public func hexDigest() -> String {
    finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }

  public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    var h = SHA256()
    h.update(bytes)
    return h.hexDigest()
  }

  public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }

  /// The digest of a file, read in 1 MiB chunks (never the whole file at once).
  public static func hexOfFile(_ path: String) throws(InstillError) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw InstillError.failure("cannot open file", file: path)
    }
    defer { try? handle.close() }
    var h = SHA256()
    while true {
      let chunk = handle.readData(ofLength: 1 << 20)
      if chunk.isEmpty { break }
      h.update([UInt8](chunk))
    }
    return h.hexDigest()
  }
}

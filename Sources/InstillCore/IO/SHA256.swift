import Foundation

/// SHA-256 (FIPS 180-4), for dataset checksums and content fingerprints.
public struct SHA256: Sendable {
  private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
    (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
  private var block = [UInt8](repeating: 0, count: 64)
  private var blockCount = 0
  private var length: UInt64 = 0

  private static let k: [UInt32] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]

  public init() {}

  public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
    if let done = bytes.withContiguousStorageIfAvailable({ update(buffer: $0) }) { return done }
    update(buffer: Array(bytes))
  }

  private mutating func update(buffer: [UInt8]) {
    buffer.withUnsafeBufferPointer { update(buffer: $0) }
  }

  private mutating func update(buffer: UnsafeBufferPointer<UInt8>) {
    length &+= UInt64(buffer.count)
    var i = 0
    // Top up a partial block first.
    while blockCount > 0 && i < buffer.count {
      block[blockCount] = buffer[i]
      blockCount += 1
      i += 1
      if blockCount == 64 {
        block.withUnsafeBufferPointer { compress($0.baseAddress!) }
        blockCount = 0
      }
    }
    // Whole blocks straight from the input.
    while i + 64 <= buffer.count {
      compress(buffer.baseAddress! + i)
      i += 64
    }
    while i < buffer.count {
      block[blockCount] = buffer[i]
      blockCount += 1
      i += 1
    }
  }

  public mutating func update(_ text: String) { update(Array(text.utf8)) }

  public mutating func finalize() -> [UInt8] {
    let bitLength = length &* 8
    var padding: [UInt8] = [0x80]
    let remainder = (blockCount + 1) % 64
    padding += [UInt8](repeating: 0, count: remainder <= 56 ? 56 - remainder : 120 - remainder)
    for i in (0..<8).reversed() { padding.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
    let saved = length
    update(buffer: padding)
    length = saved
    let words = [state.0, state.1, state.2, state.3, state.4, state.5, state.6, state.7]
    return words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * UInt32($0))) } }
  }

  public mutating func hexDigest() -> String {
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
    guard let handle = FileHandle(forReadingAtPath: path) else { throw InstillError.failure("cannot open file", file: path) }
    defer { try? handle.close() }
    var h = SHA256()
    while true {
      let chunk = handle.readData(ofLength: 1 << 20)
      if chunk.isEmpty { break }
      h.update([UInt8](chunk))
    }
    return h.hexDigest()
  }

  private mutating func compress(_ p: UnsafePointer<UInt8>) {
    var w = [UInt32](repeating: 0, count: 64)
    for i in 0..<16 {
      w[i] = UInt32(p[i * 4]) << 24 | UInt32(p[i * 4 + 1]) << 16 | UInt32(p[i * 4 + 2]) << 8 | UInt32(p[i * 4 + 3])
    }
    for i in 16..<64 {
      let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
      let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
      w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
    }
    var (a, b, c, d, e, f, g, h) = state
    for i in 0..<64 {
      let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
      let ch = (e & f) ^ (~e & g)
      let t1 = h &+ s1 &+ ch &+ SHA256.k[i] &+ w[i]
      let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
      let maj = (a & b) ^ (a & c) ^ (b & c)
      let t2 = s0 &+ maj
      h = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
    }
    state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d, state.4 &+ e, state.5 &+ f, state.6 &+ g, state.7 &+ h)
  }

  private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
}

import Foundation
import InstillCore

/// MinHash signatures banded for locality-sensitive hashing: `bands × rows`
/// hash functions `h_i(s) = a_i·s + b_i (mod 2^64)` (odd `a_i`, drawn from the
/// pipeline seed) over a record's shingle hashes; each band's `rows` minima are
/// hashed into one 64-bit band key. Two records whose shingle sets have Jaccard
/// similarity J share at least one band key with probability 1 − (1 − J^rows)^bands.
public struct MinHasher: Sendable {
  public let bands: Int
  public let rows: Int
  let a: [UInt64]
  let b: [UInt64]

  public init(bands: Int, rows: Int, seed: UInt64) {
    self.bands = bands
    self.rows = rows
    var random = SeededRandom(seed: seed, stream: "minhash")
    var a: [UInt64] = []
    var b: [UInt64] = []
    for _ in 0..<(bands * rows) {
      a.append(random.next() | 1)
      b.append(random.next())
    }
    self.a = a
    self.b = b
  }

  /// The band keys of a shingle set (empty for an empty set).
  public func bandKeys(_ shingles: [UInt64]) -> [UInt64] {
    guard !shingles.isEmpty else { return [] }
    let k = bands * rows
    var minima = [UInt64](repeating: .max, count: k)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        minima.withUnsafeMutableBufferPointer { m in
          for s in shingles {
            for i in 0..<k {
              let v = a[i] &* s &+ b[i]
              if v < m[i] { m[i] = v }
            }
          }
        }
      }
    }
    var keys: [UInt64] = []
    keys.reserveCapacity(bands)
    for band in 0..<bands {
      var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(band)
      for r in 0..<rows { h = (h ^ minima[band * rows + r]) &* 0x100_0000_01b3 }
      keys.append(Words.mix(h))
    }
    return keys
  }

  /// Band keys as one hex string (16 digits per band), as stored in `meta.minhash.bands`.
  public static func hex(_ keys: [UInt64]) -> String {
    var s = ""
    s.reserveCapacity(keys.count * 16)
    for key in keys {
      let digits = String(key, radix: 16)
      s += String(repeating: "0", count: 16 - digits.count) + digits
    }
    return s
  }

  static func keys(hex: String) -> [UInt64]? {
    let bytes = Array(hex.utf8)
    guard bytes.count % 16 == 0 else { return nil }
    var keys: [UInt64] = []
    keys.reserveCapacity(bytes.count / 16)
    var i = 0
    while i < bytes.count {
      guard let key = UInt64(String(decoding: bytes[i..<(i + 16)], as: UTF8.self), radix: 16) else { return nil }
      keys.append(key)
      i += 16
    }
    return keys
  }
}

/// The fields a corpus stage reads from each record, joined by newlines.
public struct TextFields: Sendable {
  public var fields: [String]

  static func parse(_ params: ConfigMap, default value: String) throws(InstillError) -> TextFields {
    TextFields(fields: try given(params) ?? [value])
  }

  /// `field: NAME` or `fields: [NAME, …]` when the mapping has either; both is an error.
  static func given(_ params: ConfigMap) throws(InstillError) -> [String]? {
    if let list = try params.stringList("fields") {
      let node = params.node("fields") ?? params.owner
      if params.has("field") { throw node.error("give either field or fields, not both") }
      guard !list.isEmpty else { throw node.error("fields is an empty list") }
      return list
    }
    return try params.optionalString("field").map { [$0] }
  }

  /// The record's text; a missing or non-text field is an input error naming the shard and line.
  func text(of record: Record, file: String, line: Int) throws(InstillError) -> String {
    var text = ""
    for (i, field) in fields.enumerated() {
      guard let value = record[field] else {
        throw InstillError.input("the record has no field '\(field)'", file: file, line: line, field: field)
      }
      guard case .string(let part) = value else {
        throw InstillError.input(
          "expected text, found \(value.kindDescription)", file: file, line: line, field: field)
      }
      text += i == 0 ? part : "\n" + part
    }
    return text
  }
}

/// `kind: minhash_signatures` (map) — adds `meta.minhash` = {bands: hex band
/// keys, ngram, fields} to every record. The expensive step of MinHash
/// deduplication, so it is the one that splits across job-array tasks.
public struct MinHashSignaturesStage: MapStage {
  public let text: TextFields
  public let ngram: Int
  public let hasher: MinHasher
  /// CPU-bound: one shard per core.
  public var shardParallelism: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("minhash_signatures") { params, context throws(InstillError) in
      MinHashSignaturesStage(
        text: try TextFields.parse(params, default: "text"),
        ngram: try params.int("ngram", default: 5, in: 1...64),
        hasher: MinHasher(
          bands: try params.int("bands", default: 14, in: 1...512),
          rows: try params.int("rows", default: 8, in: 1...64), seed: context.seed))
    }
  }

  public func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    var n = 0
    while var record = try input.read() {
      context.stats.recordIn()
      let shingles = Words.shingles(try text.text(of: record, file: input.path, line: input.lineNumber), n: ngram)
      if shingles.isEmpty { context.stats.count("no_words") }
      record.updateMeta {
        $0["minhash"] = .object([
          "bands": shingles.isEmpty ? .null : .string(MinHasher.hex(hasher.bandKeys(shingles))),
          "ngram": .int(ngram),
          "fields": .array(text.fields.map(JSONValue.string)),
        ])
      }
      try output.write(record)
      context.stats.recordOut()
      n += 1
      if n & 255 == 0 { try context.checkStop() }
    }
  }
}

/// Union-find over record positions whose root is always a cluster's smallest
/// position, so the record kept is the first in input order.
struct FirstInOrderClusters {
  var parent: [Int32]

  init(count: Int) { parent = (0..<count).map { Int32($0) } }

  mutating func find(_ x: Int) -> Int {
    var root = x
    while Int(parent[root]) != root { root = Int(parent[root]) }
    var node = x
    while Int(parent[node]) != root {
      let next = Int(parent[node])
      parent[node] = Int32(root)
      node = next
    }
    return root
  }

  @discardableResult
  mutating func union(_ x: Int, _ y: Int) -> Bool {
    let rx = find(x)
    let ry = find(y)
    if rx == ry { return false }
    if rx < ry { parent[ry] = Int32(rx) } else { parent[rx] = Int32(ry) }
    return true
  }
}

/// `kind: minhash_buckets` (global) — records sharing a band key are candidate
/// pairs; their clusters (connected components, found with union-find) keep
/// their first record in input order. With `verify: J` a candidate pair joins a
/// cluster only if the exact Jaccard similarity of its shingle sets is at least
/// J. Records pass through with `meta.minhash` = {cluster, cluster_size} and,
/// on the ones to remove, `duplicate_of` (the kept record's id) and `kept_text`;
/// `minhash_remove` drops them. The output keeps the input's shards (shard i
/// of the signatures becomes shard i here), so the removal splits across a job
/// array as the signatures did.
public struct MinHashBucketsStage: GlobalStage {
  public let verify: Double?
  /// With verify: the earlier members of a bucket a record is compared with.
  public let verifyCap: Int
  public var outputRecordsPerShard: Int { Int.max }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("minhash_buckets") { params, _ throws(InstillError) in
      MinHashBucketsStage(
        verify: try params.optionalDouble("verify", in: 0...1),
        verifyCap: try params.int("verify_candidates", default: 64, in: 1...1_000_000))
    }
  }

  struct Settings: Equatable {
    var ngram: Int
    var fields: [String]
  }

  static func signature(_ record: Record, file: String, line: Int) throws(InstillError) -> (
    keys: [UInt64]?, settings: Settings
  ) {
    guard let meta = record.meta["minhash"]?.objectValue,
      let ngram = meta["ngram"]?.intValue,
      let fields = meta["fields"]?.arrayValue?.compactMap(\.stringValue)
    else {
      throw InstillError.input(
        "the record has no minhash signature: put a minhash_signatures stage before minhash_buckets",
        file: file, line: line, field: "meta.minhash")
    }
    let keys: [UInt64]?
    switch meta["bands"] {
    case .string(let hex)?:
      guard let parsed = MinHasher.keys(hex: hex) else {
        throw InstillError.input("not a band-key string", file: file, line: line, field: "meta.minhash.bands")
      }
      keys = parsed
    default: keys = nil
    }
    return (keys, Settings(ngram: ngram, fields: fields))
  }

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    // Pass 1: band keys only. slots[i] is record i's row in `keys`, or -1 without words.
    var keys: [UInt64] = []
    var slots: [Int32] = []
    var bands = -1
    var signed = 0
    var settings: Settings?
    for path in input.shardPaths {
      let reader = try RecordReader(path: path)
      defer { reader.close() }
      while let record = try reader.read() {
        let (recordKeys, recordSettings) = try Self.signature(record, file: path, line: reader.lineNumber)
        if settings == nil { settings = recordSettings }
        guard recordSettings == settings else {
          throw InstillError.input(
            "signatures made with other settings than the records before (ngram or fields differ)",
            file: path, line: reader.lineNumber, field: "meta.minhash")
        }
        if let recordKeys {
          if bands < 0 { bands = recordKeys.count }
          guard recordKeys.count == bands else {
            throw InstillError.input(
              "\(recordKeys.count) bands where the records before have \(bands)", file: path,
              line: reader.lineNumber, field: "meta.minhash.bands")
          }
          keys.append(contentsOf: recordKeys)
          slots.append(Int32(signed))
          signed += 1
        } else {
          slots.append(-1)
        }
        if slots.count & 4095 == 0 { try context.checkStop() }
      }
    }
    let count = slots.count

    // Candidate runs: per band, positions sorted by key.
    var runs: [[Int32]] = []
    var candidatePairs = 0
    if bands > 0 {
      var order = [Int32]()
      order.reserveCapacity(count)
      for band in 0..<bands {
        order.removeAll(keepingCapacity: true)
        for i in 0..<count where slots[i] >= 0 { order.append(Int32(i)) }
        func key(_ i: Int32) -> UInt64 { keys[Int(slots[Int(i)]) * bands + band] }
        order.sort { x, y in
          let kx = key(x)
          let ky = key(y)
          return kx != ky ? kx < ky : x < y
        }
        var start = 0
        while start < order.count {
          var end = start + 1
          let first = key(order[start])
          while end < order.count && key(order[end]) == first { end += 1 }
          if end - start > 1 {
            runs.append(Array(order[start..<end]))
            candidatePairs += end - start - 1
          }
          start = end
        }
        try context.checkStop()
      }
    }
    keys = []
    slots = []

    // Clusters.
    // The fields the signatures were made from: verification and examples read them.
    let signedText = settings.map { TextFields(fields: $0.fields) }
    var clusters = FirstInOrderClusters(count: count)
    var verifiedPairs = 0
    var rejectedPairs = 0
    if let verify, let settings, let signedText, !runs.isEmpty {
      var members = Set<Int32>()
      for run in runs { members.formUnion(run) }
      var shingles: [Int32: [UInt64]] = [:]
      var position = 0
      for path in input.shardPaths {
        let reader = try RecordReader(path: path)
        defer { reader.close() }
        while let record = try reader.read() {
          if members.contains(Int32(position)) {
            shingles[Int32(position)] = Words.shingles(
              try signedText.text(of: record, file: path, line: reader.lineNumber), n: settings.ngram)
          }
          position += 1
        }
      }
      // A pair shares several bands as a rule: each is verified once.
      var checked = Set<UInt64>()
      for run in runs {
        for j in 1..<run.count {
          let y = Int(run[j])
          for k in 0..<min(j, verifyCap) {
            let x = Int(run[k])
            if clusters.find(x) == clusters.find(y) { break }
            guard checked.insert(UInt64(x) << 32 | UInt64(y)).inserted else { continue }
            if Words.jaccard(shingles[run[k]] ?? [], shingles[run[j]] ?? []) >= verify {
              clusters.union(x, y)
              verifiedPairs += 1
              break
            }
            rejectedPairs += 1
          }
        }
        try context.checkStop()
      }
    } else {
      for run in runs {
        for j in 1..<run.count { clusters.union(Int(run[0]), Int(run[j])) }
      }
    }
    runs = []
    var sizes = [Int32](repeating: 0, count: count)
    for i in 0..<count { sizes[clusters.find(i)] += 1 }

    // Pass 2: annotate.
    var openHeads: [Int: (id: String, text: String, left: Int32)] = [:]
    var position = 0
    var histogram: [Int: Int] = [:]
    for path in input.shardPaths {
      let reader = try RecordReader(path: path)
      defer { reader.close() }
      while var record = try reader.read() {
        context.stats.recordIn()
        let root = clusters.find(position)
        let size = Int(sizes[root])
        let id = record.id ?? "#\(position)"
        record.updateMeta { meta in
          var m = meta["minhash"]?.objectValue ?? JSONObject()
          m["bands"] = nil
          m["ngram"] = nil
          m["fields"] = nil
          m["cluster_size"] = .int(size)
          if size > 1 {
            m["cluster"] = .string(root == position ? id : openHeads[root]?.id ?? "#\(root)")
          }
          meta["minhash"] = .object(m)
        }
        if size > 1 {
          if root == position {
            histogram[size, default: 0] += 1
            let text = (try? signedText?.text(of: record, file: path, line: reader.lineNumber)) ?? ""
            openHeads[root] = (id, String(text.prefix(400)), Int32(size - 1))
          } else if var head = openHeads[root] {
            record.updateMeta { meta in
              var m = meta["minhash"]?.objectValue ?? JSONObject()
              m["duplicate_of"] = .string(head.id)
              m["kept_text"] = .string(head.text)
              m["fields"] = settings.map { .array($0.fields.map(JSONValue.string)) }
              meta["minhash"] = .object(m)
            }
            head.left -= 1
            openHeads[root] = head.left == 0 ? nil : head
          }
        }
        try output.write(record)
        context.stats.recordOut()
        position += 1
        if position & 1023 == 0 { try context.checkStop() }
      }
      try output.endShard()
    }
    context.stats.count("candidate_pairs", candidatePairs)
    if verify != nil {
      context.stats.count("verified_pairs", verifiedPairs)
      context.stats.count("pairs_below_verify", rejectedPairs)
    }
    context.stats.count("clusters", histogram.values.reduce(0, +))
    context.stats.count("duplicates", histogram.reduce(0) { $0 + ($1.key - 1) * $1.value })
    for (size, n) in histogram {
      context.stats.count("clusters_of_\(size < 10 ? String(size) : size < 100 ? "10-99" : "100+")", n)
    }
  }
}

/// `kind: minhash_remove` (map) — drops the records `minhash_buckets` marked as
/// duplicates (filter `minhash`, reason `near_duplicate`, the example showing the
/// removed text beside the kept one).
public struct MinHashRemoveStage: MapStage {
  public static func register(in catalog: inout StageCatalog) {
    catalog.register("minhash_remove") { _, _ throws(InstillError) in MinHashRemoveStage() }
  }

  public func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    context.stats.declareFilters(["minhash"])
    var n = 0
    while var record = try input.read() {
      context.stats.recordIn()
      guard var meta = record.meta["minhash"]?.objectValue, meta["cluster_size"] != nil else {
        throw InstillError.input(
          "the record has no minhash cluster: put minhash_buckets before minhash_remove", file: input.path,
          line: input.lineNumber, field: "meta.minhash")
      }
      if case .string(let keptID)? = meta["duplicate_of"] {
        let kept = meta["kept_text"]?.stringValue ?? keptID
        let fields = meta["fields"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let removed = (try? TextFields(fields: fields).text(of: record, file: input.path, line: input.lineNumber)) ?? ""
        context.stats.filter(
          "minhash", kept: false, reason: "near_duplicate", example: String(removed.prefix(400)) + "  ≈  " + kept)
      } else {
        context.stats.filter("minhash", kept: true)
        record.updateMeta { $0["minhash"] = .object(meta) }
        try output.write(record)
        context.stats.recordOut()
      }
      n += 1
      if n & 1023 == 0 { try context.checkStop() }
    }
  }
}

/// Streams records from a JSONL or gzip JSONL file, one object per line. Blank
/// lines are skipped. A line that is not a JSON object, or not valid UTF-8, is
/// an error naming the file and line.
public final class RecordReader {
  public let path: String
  private let lines: LineReader

  public init(path: String) throws(InstillError) {
    self.path = path
    self.lines = try LineReader(path: path)
  }

  public var lineNumber: Int { lines.lineNumber }

  /// The next record, or nil at the end of the file.
  public func read() throws(InstillError) -> Record? {
    while true {
      let parsed: Result<Record?, InstillError>?
      do {
        parsed = try lines.withNextLine { (line) -> Result<Record?, InstillError> in
          if isBlank(line) { return .success(nil) }
          do {
            let value = try JSONParser.parse(line)
            guard case .object(let object) = value else {
              return .failure(
                .input("expected a JSON object, found \(value.kindDescription)", file: path, line: lines.lineNumber))
            }
            return .success(Record(object))
          } catch {
            return .failure(.input("invalid JSON: \(error)", file: path, line: lines.lineNumber))
          }
        }
      } catch let error as InstillError {
        throw error
      } catch {
        throw InstillError.failure("\(error)", file: path)
      }
      guard let parsed else { return nil }
      switch parsed {
      case .success(let record?): return record
      case .success(nil): continue
      case .failure(let error): throw error
      }
    }
  }

  public func close() { lines.close() }

  private func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
    for b in line where b != 0x20 && b != 0x09 && b != 0x0D { return false }
    return true
  }

  /// Reads every record of a file; for small inputs such as seed files.
  public static func readAll(path: String) throws(InstillError) -> [Record] {
    let reader = try RecordReader(path: path)
    defer { reader.close() }
    var records: [Record] = []
    while let record = try reader.read() { records.append(record) }
    return records
  }

  /// Counts the records of a file without keeping them.
  public static func count(path: String) throws(InstillError) -> Int {
    let reader = try RecordReader(path: path)
    defer { reader.close() }
    var n = 0
    while try reader.read() != nil { n += 1 }
    return n
  }
}

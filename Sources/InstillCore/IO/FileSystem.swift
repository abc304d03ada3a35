import Foundation

/// Small durable-file helpers: every file a user relies on appears complete or
/// not at all (write tmp, fsync, rename, fsync the folder).
public enum FileSystem {
  public static func exists(_ path: String) -> Bool {
    access(path, F_OK) == 0
  }

  public static func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
  }

  /// Every regular file under a folder (recursively, hidden entries skipped), sorted by path.
  public static func filesBelow(_ folder: String) -> [String] {
    var found: [String] = []
    for entry in list(folder) where !entry.hasPrefix(".") {
      let path = folder + "/" + entry
      if isDirectory(path) { found += filesBelow(path) } else { found.append(path) }
    }
    return found
  }

  /// A file's size in bytes, or nil when it does not exist.
  public static func size(_ path: String) -> Int64? {
    var info = stat()
    return stat(path, &info) == 0 ? Int64(info.st_size) : nil
  }

  /// Size and modification time, cheaper than hashing for large inputs.
  public static func identity(_ path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return "\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
  }

  public static func createDirectory(_ path: String) throws(InstillError) {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw InstillError.failure("cannot create folder: \(error.localizedDescription)", file: path)
    }
  }

  public static func remove(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
  }

  /// Entries of a folder, sorted by name; empty when it does not exist.
  public static func list(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
  }

  /// A text file's bytes without a UTF-8 byte-order mark at its very start
  /// (editors and spreadsheet exports on Windows write one).
  public static func readText(_ path: String) throws(InstillError) -> [UInt8] {
    let bytes = try read(path)
    return bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
  }

  /// A text file as a string (byte-order mark skipped); not UTF-8 is an input error.
  public static func readString(_ path: String, what: String) throws(InstillError) -> String {
    guard let text = String(validating: try readText(path), as: UTF8.self) else {
      throw InstillError.input("the \(what) is not valid UTF-8", file: path)
    }
    return text
  }

  public static func read(_ path: String) throws(InstillError) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw InstillError.input(exists(path) ? "cannot read file" : "file not found", file: path)
    }
    return [UInt8](data)
  }

  /// Visits a file's bytes in 1 MiB chunks (hashing large inputs without holding them).
  public static func forEachChunk(_ path: String, _ body: ([UInt8]) -> Void) throws(InstillError) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw InstillError.input(exists(path) ? "cannot read file" : "file not found", file: path)
    }
    defer { try? handle.close() }
    while true {
      let chunk: Data?
      do { chunk = try handle.read(upToCount: 1 << 20) } catch {
        throw InstillError.input("cannot read file: \(error.localizedDescription)", file: path)
      }
      guard let chunk, !chunk.isEmpty else { return }
      body([UInt8](chunk))
    }
  }

  public static func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
  }

  public static func fsyncFile(_ path: String) throws(InstillError) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      throw InstillError.failure("cannot open for fsync: \(String(cString: strerror(errno)))", file: path)
    }
    defer { close(fd) }
    guard fsync(fd) == 0 else {
      throw InstillError.failure("fsync failed: \(String(cString: strerror(errno)))", file: path)
    }
  }

  public static func fsyncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
  }

  /// Renames atomically and makes the rename durable.
  public static func rename(_ from: String, to: String) throws(InstillError) {
    guard Glibc.rename(from, to) == 0 else {
      throw InstillError.failure("rename to \(to) failed: \(String(cString: strerror(errno)))", file: from)
    }
    fsyncDirectory(
      (to as NSString).deletingLastPathComponent.isEmpty ? "." : (to as NSString).deletingLastPathComponent)
  }

  /// Writes `bytes` to `path` atomically and durably.
  public static func writeAtomically(_ bytes: [UInt8], to path: String, durable: Bool = true) throws(InstillError) {
    let tmp = path + ".tmp.\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else {
      throw InstillError.failure("cannot create file: \(String(cString: strerror(errno)))", file: tmp)
    }
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
      if n < 0 {
        if errno == EINTR { continue }
        close(fd)
        unlink(tmp)
        throw InstillError.failure("write failed: \(String(cString: strerror(errno)))", file: tmp)
      }
      offset += n
    }
    if durable { fsync(fd) }
    close(fd)
    guard Glibc.rename(tmp, path) == 0 else {
      unlink(tmp)
      throw InstillError.failure("rename failed: \(String(cString: strerror(errno)))", file: path)
    }
    if durable { fsyncDirectory((path as NSString).deletingLastPathComponent) }
  }

  public static func writeAtomically(_ text: String, to path: String, durable: Bool = true) throws(InstillError) {
    try writeAtomically(Array(text.utf8), to: path, durable: durable)
  }

  /// Joins path components, leaving absolute `child` paths alone.
  public static func resolve(_ child: String, relativeTo base: String) -> String {
    if child.hasPrefix("/") { return child }
    if base.isEmpty || base == "." { return child }
    return (base as NSString).appendingPathComponent(child)
  }
}

import Foundation
import InstillCore

/// The run directory's lock: a POSIX record lock on `DIR/lock`. A whole run locks
/// the whole file; a `--shard-index I` task locks only byte I+1, so the tasks of
/// one job array can share a run directory while two processes never work on
/// the same shards. The lock dies with its process, even on kill -9.
public final class RunLock {
  public let path: String
  private var fd: Int32 = -1

  public init(directory: String) {
    path = directory + "/lock"
  }

  deinit { release() }

  /// Where the `--shard-count` marks start: a task of an N-task array also holds
  /// a shared lock on byte `countBase + N`, so a task started with another count
  /// while the array runs is refused instead of taking shards twice.
  static let countBase: off_t = 1 << 40

  /// Takes the lock without waiting; throws `.locked` (exit 4) if another process
  /// holds it, `.input` (exit 2) if running tasks use another `--shard-count`.
  public func acquire(shardIndex: Int?, shardCount: Int? = nil) throws(InstillError) {
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw InstillError.failure("cannot open lock file: \(String(cString: strerror(errno)))", file: path)
    }
    var lock = Self.share(shardIndex, type: F_WRLCK)
    if fcntl(fd, F_SETLK, &lock) != 0 {
      let holder = Self.conflict(fd, Self.share(shardIndex))?.l_pid
      close(fd)
      fd = -1
      throw InstillError(
        .locked, "another instill process\(holder.map { " (pid \($0))" } ?? "") is working in this run directory",
        file: path)
    }
    if let shardCount { try markShardCount(shardCount) }
    // A note for people; the lock itself is the fcntl record lock.
    let note = "pid \(getpid())\(shardIndex.map { " shard-index \($0)" } ?? "")\n"
    if shardIndex == nil {
      ftruncate(fd, 0)
      _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
    }
  }

  private func markShardCount(_ count: Int) throws(InstillError) {
    var mark = Self.region(Self.countBase + off_t(count), 1, type: F_RDLCK)
    _ = fcntl(fd, F_SETLK, &mark)
    // Any other process's mark below or above ours is a task with another count.
    for probe in [Self.region(Self.countBase, off_t(count)), Self.region(Self.countBase + off_t(count) + 1, 0)] {
      if let other = Self.conflict(fd, probe) {
        release()
        throw InstillError.input(
          "tasks started with --shard-count \(other.l_start - Self.countBase) are working in this run directory (pid \(other.l_pid)); "
            + "every task of a job array must use the same --shard-count (this one has \(count))",
          field: "--shard-count")
      }
    }
  }

  public func release() {
    if fd >= 0 { close(fd) }
    fd = -1
  }

  /// The pid of a process holding any part of the lock, or nil when free.
  public static func holder(directory: String) -> Int32? {
    withLockFile(directory) { conflict($0, share(nil))?.l_pid } ?? nil
  }

  /// Who works in a run directory now: a whole run (its pid), the tasks of a job
  /// array (their `--shard-count` and the indexes running), or nobody.
  public enum Holders: Equatable, Sendable {
    case free
    case run(pid: Int32)
    case tasks(count: Int, running: [Int])
  }

  public static func holders(directory: String) -> Holders {
    withLockFile(directory) { fd -> Holders in
      // Byte 0 is taken only by a run without --shard-index.
      if let run = conflict(fd, region(0, 1)) { return .run(pid: run.l_pid) }
      guard let mark = conflict(fd, region(countBase, 0)) else {
        return conflict(fd, share(nil)).map { .run(pid: $0.l_pid) } ?? .free
      }
      let count = Int(mark.l_start - countBase)
      return .tasks(count: count, running: (0..<count).filter { conflict(fd, share($0)) != nil })
    } ?? .free
  }

  /// Opens the lock file read-only for probing; nil when there is none.
  private static func withLockFile<T>(_ directory: String, _ body: (Int32) -> T) -> T? {
    let fd = open(directory + "/lock", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return body(fd)
  }

  /// The lock another process holds that would block `probe`, or nil.
  private static func conflict(_ fd: Int32, _ probe: flock) -> flock? {
    var probe = probe
    guard fcntl(fd, F_GETLK, &probe) == 0, probe.l_type != Int16(F_UNLCK) else { return nil }
    return probe
  }

  /// A task's byte (1 + shard index), or the whole file for a run without --shard-index.
  private static func share(_ shardIndex: Int?, type: Int32 = F_WRLCK) -> flock {
    shardIndex.map { region(off_t(1 + $0), 1, type: type) } ?? region(0, 0, type: type)
  }

  /// `length` bytes from `start` (0: to the end of the file).
  private static func region(_ start: off_t, _ length: off_t, type: Int32 = F_WRLCK) -> flock {
    var lock = flock()
    lock.l_type = Int16(type)
    lock.l_whence = Int16(SEEK_SET)
    lock.l_start = start
    lock.l_len = length
    return lock
  }
}

/// An exclusive lock on one stage folder, taken by whichever job-array task runs a
/// global stage; the others wait for it and then find the stage complete.
final class StageLock {
  private var fd: Int32 = -1

  init(directory: String) throws(InstillError) {
    let path = directory + "/.stage-lock"
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw InstillError.failure("cannot open lock file: \(String(cString: strerror(errno)))", file: path)
    }
    var lock = flock()
    lock.l_type = Int16(F_WRLCK)
    lock.l_whence = Int16(SEEK_SET)
    while fcntl(fd, F_SETLKW, &lock) != 0 {
      if errno != EINTR { throw InstillError.failure("cannot lock: \(String(cString: strerror(errno)))", file: path) }
    }
  }

  deinit { if fd >= 0 { close(fd) } }
}

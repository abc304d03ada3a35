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
    guard fd >= 0 else { throw InstillError.failure("cannot open lock file: \(String(cString: strerror(errno)))", file: path) }
    var lock = Self.range(shardIndex: shardIndex, type: Int16(F_WRLCK))
    if fcntl(fd, F_SETLK, &lock) != 0 {
      let holder = Self.holder(fd: fd, shardIndex: shardIndex)
      close(fd)
      fd = -1
      throw InstillError(.locked, "another instill process\(holder.map { " (pid \($0))" } ?? "") is working in this run directory", file: path)
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
    var mark = flock()
    mark.l_type = Int16(F_RDLCK)
    mark.l_whence = Int16(SEEK_SET)
    mark.l_start = Self.countBase + off_t(count)
    mark.l_len = 1
    _ = fcntl(fd, F_SETLK, &mark)
    // Any other process's mark below or above ours is a task with another count.
    for (start, length) in [(Self.countBase, off_t(count)), (Self.countBase + off_t(count) + 1, off_t(0))] {
      var probe = flock()
      probe.l_type = Int16(F_WRLCK)
      probe.l_whence = Int16(SEEK_SET)
      probe.l_start = start
      probe.l_len = length
      if fcntl(fd, F_GETLK, &probe) == 0, probe.l_type != Int16(F_UNLCK) {
        let other = probe.l_start - Self.countBase
        release()
        throw InstillError.input(
          "tasks started with --shard-count \(other) are working in this run directory (pid \(probe.l_pid)); "
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
    let path = directory + "/lock"
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return holder(fd: fd, shardIndex: nil)
  }

  /// The pid holding one job-array task's share (`shardIndex`), or the whole run
  /// directory (nil: the byte no task takes, held only by a run without --shard-index).
  public static func holder(directory: String, shardIndex: Int?) -> Int32? {
    let fd = open(directory + "/lock", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var probe = flock()
    probe.l_type = Int16(F_WRLCK)
    probe.l_whence = Int16(SEEK_SET)
    probe.l_start = off_t(shardIndex.map { 1 + $0 } ?? 0)
    probe.l_len = 1
    guard fcntl(fd, F_GETLK, &probe) == 0, probe.l_type != Int16(F_UNLCK) else { return nil }
    return probe.l_pid
  }

  /// Who works in a run directory now, for `instill status`: a whole run (its
  /// pid), the tasks of a job array (their `--shard-count` and the indexes
  /// running), or nobody.
  public enum Holders: Equatable, Sendable {
    case free
    case run(pid: Int32)
    case tasks(count: Int, running: [Int])
  }

  public static func holders(directory: String) -> Holders {
    if let pid = holder(directory: directory, shardIndex: nil) { return .run(pid: pid) }
    let fd = open(directory + "/lock", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .free }
    defer { close(fd) }
    var mark = flock()
    mark.l_type = Int16(F_WRLCK)
    mark.l_whence = Int16(SEEK_SET)
    mark.l_start = countBase
    mark.l_len = 0
    guard fcntl(fd, F_GETLK, &mark) == 0, mark.l_type != Int16(F_UNLCK) else {
      return holder(fd: fd, shardIndex: nil).map { .run(pid: $0) } ?? .free
    }
    let count = Int(mark.l_start - countBase)
    let running = (0..<count).filter { holder(directory: directory, shardIndex: $0) != nil }
    return .tasks(count: count, running: running)
  }

  private static func holder(fd: Int32, shardIndex: Int?) -> Int32? {
    var probe = range(shardIndex: shardIndex, type: Int16(F_WRLCK))
    guard fcntl(fd, F_GETLK, &probe) == 0, probe.l_type != Int16(F_UNLCK) else { return nil }
    return probe.l_pid
  }

  private static func range(shardIndex: Int?, type: Int16) -> flock {
    var lock = flock()
    lock.l_type = type
    lock.l_whence = Int16(SEEK_SET)
    if let shardIndex {
      lock.l_start = off_t(1 + shardIndex)
      lock.l_len = 1
    } else {
      lock.l_start = 0
      lock.l_len = 0
    }
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
    guard fd >= 0 else { throw InstillError.failure("cannot open lock file: \(String(cString: strerror(errno)))", file: path) }
    var lock = flock()
    lock.l_type = Int16(F_WRLCK)
    lock.l_whence = Int16(SEEK_SET)
    while fcntl(fd, F_SETLKW, &lock) != 0 {
      if errno != EINTR { throw InstillError.failure("cannot lock: \(String(cString: strerror(errno)))", file: path) }
    }
  }

  deinit { if fd >= 0 { close(fd) } }
}

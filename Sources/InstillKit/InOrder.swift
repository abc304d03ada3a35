import InstillCore

/// Runs `work` over `items` with at most `limit` in flight, and hands results to
/// `consume` in input order (never arrival order), so output is deterministic.
/// On a stop request or a spent budget it sends nothing new, waits for what is in
/// flight (so every paid-for response is journaled) and then throws `StoppedEarly`.
public func forEachInOrder<Item: Sendable, Output: Sendable>(
  _ items: some Sequence<Item>,
  limit: Int,
  control: RunControl,
  work: @escaping @Sendable (Item, Int) async throws -> Output,
  consume: (Output, Int) throws -> Void
) async throws {
  var iterator = items.makeIterator()
  try await forEachInOrder(next: { iterator.next() }, limit: limit, control: control, work: work, consume: consume)
}

/// The same over a source that may fail while reading (a record file): a read
/// error stops launching, lets the work in flight finish (and be journaled), and
/// is then thrown.
public func forEachInOrder<Item: Sendable, Output: Sendable>(
  next: () throws -> Item?,
  limit: Int,
  control: RunControl,
  work: @escaping @Sendable (Item, Int) async throws -> Output,
  consume: (Output, Int) throws -> Void
) async throws {
  try await withThrowingTaskGroup(of: (Int, Result<Output, any Error>).self) { group in
    var nextIndex = 0
    var nextToConsume = 0
    var done: [Int: Output] = [:]
    var inFlight = 0
    var exhausted = false
    var failure = MostSeriousError()

    func launchMore() {
      while !exhausted, inFlight < max(1, limit), failure.error == nil, control.stopRequested == nil {
        let item: Item
        do {
          guard let got = try next() else {
            exhausted = true
            return
          }
          item = got
        } catch {
          failure.keep(error)
          return
        }
        let index = nextIndex
        nextIndex += 1
        inFlight += 1
        group.addTask {
          do { return (index, .success(try await work(item, index))) } catch { return (index, .failure(error)) }
        }
      }
    }

    launchMore()
    while inFlight > 0 {
      guard let (index, result) = try await group.next() else { break }
      inFlight -= 1
      switch result {
      case .success(let output): done[index] = output
      case .failure(let error): failure.keep(error)
      }
      if failure.error == nil {
        while let output = done.removeValue(forKey: nextToConsume) {
          try consume(output, nextToConsume)
          nextToConsume += 1
        }
      }
      launchMore()
    }
    if let error = failure.error { throw error }
    if let reason = control.stopRequested {
      let more: Bool
      if exhausted { more = false } else { more = (try next()) != nil }
      if more || nextToConsume < nextIndex { throw StoppedEarly(reason) }
    }
  }
}

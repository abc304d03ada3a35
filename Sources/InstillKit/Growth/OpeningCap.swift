/// `max_same_opening`: at most this fraction of the target may share an opening
/// (first three words); at least one record per opening is always allowed.
struct OpeningCap {
  let limit: Int
  private var counts: [String: Int] = [:]

  init(fraction: Double, target: Int) {
    limit = max(1, Int((fraction * Double(target)).rounded(.down)))
  }

  func allows(_ opening: String) -> Bool { counts[opening, default: 0] < limit }

  mutating func add(_ opening: String) { counts[opening, default: 0] += 1 }
}

#include "client/local_decision_counts.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <utility>

#include "absl/strings/string_view.h"

namespace cutover {

// --- FlagCounterSlots --------------------------------------------------------

FlagCounterSlots::FlagCounterSlots() { keys_.emplace_back(kUnknownKey); }

uint32_t FlagCounterSlots::SlotFor(std::string_view key) {
  std::lock_guard lock(mu_);
  auto found = slots_.find(absl::string_view(key.data(), key.size()));
  if (found != slots_.end()) return found->second;
  const auto slot = static_cast<uint32_t>(keys_.size());
  keys_.emplace_back(key);
  try {
    slots_.emplace(std::string(key), slot);
  } catch (...) {
    keys_.pop_back();
    throw;
  }
  return slot;
}

void FlagCounterSlots::AppendKeys(std::vector<std::string>& keys) const {
  std::lock_guard lock(mu_);
  for (size_t slot = keys.size(); slot < keys_.size(); ++slot) {
    keys.push_back(keys_[slot]);
  }
}

size_t FlagCounterSlots::size() const {
  std::lock_guard lock(mu_);
  return keys_.size();
}

// --- LocalDecisionCounts -----------------------------------------------------

namespace {

using Cell = std::atomic<uint64_t>;
constexpr size_t kCellsPerChunk = LocalDecisionCounts::kSlotsPerChunk *
                                  LocalDecisionCounts::kCellsPerSlot;

// kSlotsPerChunk slots' cells, zero at first. Aligned so that no two
// threads' chunks share a cache line.
struct alignas(64) Chunk {
  Chunk() {
    for (Cell& cell : cells) cell.store(0, std::memory_order_relaxed);
  }
  Cell cells[kCellsPerChunk];
};

// Chunk pointers by chunk number (slot / kSlotsPerChunk); null where the
// block has not counted.
struct Directory {
  explicit Directory(size_t chunk_count)
      : size(chunk_count), chunks(new std::atomic<Chunk*>[chunk_count]) {
    for (size_t i = 0; i < size; ++i) {
      chunks[i].store(nullptr, std::memory_order_relaxed);
    }
  }
  const size_t size;
  const std::unique_ptr<std::atomic<Chunk*>[]> chunks;
};

std::atomic<uint64_t> next_id{1};

}  // namespace

// The counters one thread at a time writes (its owner; a new owner takes
// it through Shared::mu), any thread reads.
class LocalDecisionCounts::Block {
 public:
  // The owner's cell, its chunk allocated if needed; null if memory ran
  // out.
  Cell* CellFor(uint32_t slot, int cell) noexcept {
    const size_t chunk_number = slot / kSlotsPerChunk;
    const Directory* directory = directory_.load(std::memory_order_relaxed);
    Chunk* chunk =
        directory != nullptr && chunk_number < directory->size
            ? directory->chunks[chunk_number].load(std::memory_order_relaxed)
            : nullptr;
    if (chunk == nullptr) chunk = AddChunk(chunk_number);
    if (chunk == nullptr) return nullptr;
    return &chunk->cells[(slot % kSlotsPerChunk) * kCellsPerSlot + cell];
  }

  // Any thread: calls visit(chunk_number, chunk) for every published
  // chunk, in order (the acquire loads pair with AddChunk's release
  // stores).
  template <class Visit>
  void ForEachChunk(Visit visit) const {
    const Directory* directory = directory_.load(std::memory_order_acquire);
    if (directory == nullptr) return;
    for (size_t i = 0; i < directory->size; ++i) {
      const Chunk* chunk =
          directory->chunks[i].load(std::memory_order_acquire);
      if (chunk != nullptr) visit(i, *chunk);
    }
  }

  // Any thread: the sum of every cell.
  uint64_t Sum() const noexcept {
    uint64_t sum = 0;
    ForEachChunk([&](size_t, const Chunk& chunk) {
      for (const auto& cell : chunk.cells) {
        sum += cell.load(std::memory_order_relaxed);
      }
    });
    return sum;
  }

  // Any thread: adds the cells to totals (see AddTotalsTo).
  void AddTo(std::vector<uint64_t>& totals) const {
    ForEachChunk([&](size_t i, const Chunk& chunk) {
      const size_t first = i * kCellsPerChunk;
      if (totals.size() < first + kCellsPerChunk) {
        totals.resize(first + kCellsPerChunk, 0);
      }
      for (size_t c = 0; c < kCellsPerChunk; ++c) {
        totals[first + c] += chunk.cells[c].load(std::memory_order_relaxed);
      }
    });
  }

 private:
  // Owner only. Publishes a zeroed chunk at `chunk_number` (and a larger
  // directory first if needed), each with a release store for AddTo.
  Chunk* AddChunk(size_t chunk_number) noexcept {
    try {
      Directory* directory = directory_.load(std::memory_order_relaxed);
      if (directory == nullptr || chunk_number >= directory->size) {
        const size_t size = std::max(
            chunk_number + 1, directory == nullptr ? 4 : directory->size * 2);
        auto larger = std::make_unique<Directory>(size);
        for (size_t i = 0; directory != nullptr && i < directory->size; ++i) {
          larger->chunks[i].store(
              directory->chunks[i].load(std::memory_order_relaxed),
              std::memory_order_relaxed);
        }
        // The old one stays: a collector may be reading it.
        directories_.push_back(std::move(larger));
        directory = directories_.back().get();
        directory_.store(directory, std::memory_order_release);
      }
      chunks_.push_back(std::make_unique<Chunk>());
      Chunk* chunk = chunks_.back().get();
      directory->chunks[chunk_number].store(chunk, std::memory_order_release);
      return chunk;
    } catch (...) {  // std::bad_alloc
      return nullptr;
    }
  }

  std::atomic<Directory*> directory_{nullptr};
  // Owner only: what the block allocated, freed with it.
  std::vector<std::unique_ptr<Directory>> directories_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
};

struct LocalDecisionCounts::Shared {
  std::mutex mu;
  // Every block (never freed before this), and those no thread owns.
  std::vector<std::unique_ptr<Block>> blocks;  // guarded by mu
  std::vector<Block*> free_blocks;             // guarded by mu
  // Counts of threads without a block of their own (guarded by mu).
  Block shared_block;
  // The LocalDecisionCounts is gone: threads drop their leases.
  std::atomic<bool> closed{false};
  std::atomic<uint64_t> uncounted{0};
};

namespace {

using Block = LocalDecisionCounts::Block;
using Shared = LocalDecisionCounts::Shared;

// A thread's fast way to its block: direct-mapped by the counts' id (ids
// are never reused, so a stale entry never matches). Trivially
// destructible, so reading it needs no thread_local guard.
struct CachedBlock {
  uint64_t id = 0;
  Block* block = nullptr;
};
constexpr int kCacheWays = 4;
thread_local CachedBlock t_cached_blocks[kCacheWays];
// Set when the thread's leases were handed back (thread exit).
thread_local bool t_leases_returned = false;

// Every block this thread holds, one per LocalDecisionCounts; handed back
// when the thread exits.
struct ThreadLeases {
  struct Lease {
    uint64_t id;
    std::shared_ptr<Shared> shared;
    Block* block;
  };

  static void Return(const Lease& lease) noexcept {
    std::lock_guard lock(lease.shared->mu);
    // (reserved when the block was made: no allocation here)
    lease.shared->free_blocks.push_back(lease.block);
  }

  ~ThreadLeases() {
    for (const Lease& lease : leases) Return(lease);
    for (CachedBlock& cached : t_cached_blocks) cached = CachedBlock();
    t_leases_returned = true;
  }

  // Hands back the leases of closed counts, so that a thread outliving
  // many Clients does not keep their blocks.
  void DropClosed() noexcept {
    size_t kept = 0;
    for (size_t i = 0; i < leases.size(); ++i) {
      if (leases[i].shared->closed.load(std::memory_order_acquire)) {
        CachedBlock& cached = t_cached_blocks[leases[i].id % kCacheWays];
        if (cached.id == leases[i].id) cached = CachedBlock();
        Return(leases[i]);
        continue;
      }
      if (kept != i) leases[kept] = std::move(leases[i]);
      kept += 1;
    }
    leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(kept),
                 leases.end());
  }

  std::vector<Lease> leases;
};

ThreadLeases& Leases() {
  thread_local ThreadLeases leases;
  return leases;
}

}  // namespace

LocalDecisionCounts::LocalDecisionCounts()
    : shared_(std::make_shared<Shared>()),
      id_(next_id.fetch_add(1, std::memory_order_relaxed)) {}

LocalDecisionCounts::~LocalDecisionCounts() {
  shared_->closed.store(true, std::memory_order_release);
}

int LocalDecisionCounts::CellOf(Stage stage, Reason reason) noexcept {
  const int s = static_cast<int>(stage) - static_cast<int>(Stage::kOff);
  const int r = static_cast<int>(reason) - static_cast<int>(Reason::kDisabled);
  if (s < 0 || s >= kStages || r < 0 || r >= kReasons) return -1;
  return s * kReasons + r;
}

Stage LocalDecisionCounts::StageOfCell(int cell) noexcept {
  return static_cast<Stage>(static_cast<int>(Stage::kOff) + cell / kReasons);
}

Reason LocalDecisionCounts::ReasonOfCell(int cell) noexcept {
  return static_cast<Reason>(static_cast<int>(Reason::kDisabled) +
                             cell % kReasons);
}

void LocalDecisionCounts::Count(uint32_t slot, Stage stage,
                                Reason reason) noexcept {
  const int cell = CellOf(stage, reason);
  if (cell < 0) {
    shared_->uncounted.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const CachedBlock& cached = t_cached_blocks[id_ % kCacheWays];
  Block* block = cached.id == id_ ? cached.block : TakeThreadBlock();
  if (block == nullptr) {
    CountShared(slot, cell);
    return;
  }
  Cell* counter = block->CellFor(slot, cell);
  if (counter == nullptr) {
    CountShared(slot, cell);
    return;
  }
  // The only writer of this cell: no read-modify-write needed.
  counter->store(counter->load(std::memory_order_relaxed) + 1,
                 std::memory_order_relaxed);
}

LocalDecisionCounts::Block* LocalDecisionCounts::TakeThreadBlock() noexcept {
  if (t_leases_returned) return nullptr;  // exiting: the shared block
  try {
    ThreadLeases& leases = Leases();
    Block* block = nullptr;
    for (const ThreadLeases::Lease& lease : leases.leases) {
      if (lease.id == id_) block = lease.block;
    }
    if (block == nullptr) {
      leases.DropClosed();
      leases.leases.reserve(leases.leases.size() + 1);
      std::lock_guard lock(shared_->mu);
      if (!shared_->free_blocks.empty()) {
        block = shared_->free_blocks.back();
        shared_->free_blocks.pop_back();
      } else {
        // Room to hand every block back without allocating.
        shared_->free_blocks.reserve(shared_->blocks.size() + 1);
        shared_->blocks.push_back(std::make_unique<Block>());
        block = shared_->blocks.back().get();
      }
      leases.leases.push_back({id_, shared_, block});  // reserved: no throw
    }
    t_cached_blocks[id_ % kCacheWays] = {id_, block};
    return block;
  } catch (...) {  // std::bad_alloc
    return nullptr;
  }
}

void LocalDecisionCounts::CountShared(uint32_t slot, int cell) noexcept {
  std::lock_guard lock(shared_->mu);
  Cell* counter = shared_->shared_block.CellFor(slot, cell);
  if (counter == nullptr) {
    shared_->uncounted.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  counter->store(counter->load(std::memory_order_relaxed) + 1,
                 std::memory_order_relaxed);
}

void LocalDecisionCounts::AddTotalsTo(std::vector<uint64_t>& totals) const {
  std::lock_guard lock(shared_->mu);
  for (const auto& block : shared_->blocks) block->AddTo(totals);
  shared_->shared_block.AddTo(totals);
}

uint64_t LocalDecisionCounts::Total() const noexcept {
  std::lock_guard lock(shared_->mu);
  uint64_t total = shared_->uncounted.load(std::memory_order_relaxed);
  for (const auto& block : shared_->blocks) total += block->Sum();
  return total + shared_->shared_block.Sum();
}

uint64_t LocalDecisionCounts::uncounted() const noexcept {
  return shared_->uncounted.load(std::memory_order_relaxed);
}

size_t LocalDecisionCounts::block_count() const {
  std::lock_guard lock(shared_->mu);
  return shared_->blocks.size();
}

}  // namespace cutover

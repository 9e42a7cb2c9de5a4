// Persistent worker pool. Workers are created once (AELAB_THREADS or the hardware concurrency) and
// reused for every parallel kernel. After a region ends they spin briefly (the next kernel usually
// follows within microseconds), then block on a condition variable so they never compete for a core
// with OpenBLAS's own threads during a GEMM.
//
// Joining a region: the caller publishes the region with nt - 1 worker "slots" in one atomic ticket
// (region generation << 16 | unclaimed slots); a worker joins by claiming a slot (CAS), which gives it
// its thread id, and the caller waits only for claimed slots to finish. pool_run regions need all nt
// threads (the GEMM's barriers), so the caller waits for every slot to be claimed and finished. In a
// pool_run_shared region the threads take work from a shared counter; when the caller runs out of
// work it withdraws the slots nobody has claimed yet, so a worker that has not been scheduled (the
// machine is busy with other processes) is not waited for and its share is done by whoever is running.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() {}
#endif

namespace aelab {
namespace {

/// How long an idle worker spins before it sleeps, and how long a waiter spins before it yields.
constexpr auto kSpinTime = std::chrono::microseconds(60);

struct Pool {
  std::mutex runLock;  // one region at a time (also guards the GEMM packing buffers)
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::thread> workers;
  std::atomic<uint64_t> gen{0};     // generation of the newest region (wakes the workers)
  std::atomic<uint64_t> ticket{0};  // (generation << 16) | worker slots of that region not yet claimed
  std::atomic<int> remaining{0};    // worker slots of the current region not yet finished or withdrawn
  std::atomic<bool> stop{false};
  RegionFn fn = nullptr;
  void* ctx = nullptr;
  int nt = 1;     // threads in the current region
  int total = 1;  // caller + workers
  alignas(64) std::atomic<int> barCount{0};
  alignas(64) std::atomic<int> barGen{0};
};

Pool* g_pool = nullptr;  // intentionally leaked: worker threads must not be joined at process exit
std::once_flag g_once;
thread_local bool t_inRegion = false;

constexpr uint64_t kSlotBits = 16;
constexpr uint64_t kSlotMask = (uint64_t{1} << kSlotBits) - 1;

// `last` starts at the generation current when the worker was created (read by the creator under
// runLock, so no region is in flight). A worker tries each region at most once: it must not claim two
// slots of one region (a static region's barrier would wait for itself).
void worker_main(Pool* p, uint64_t last) {
  t_inRegion = true;
  for (;;) {
    uint64_t g = p->gen.load(std::memory_order_acquire);
    if (g <= last) {
      auto t0 = std::chrono::steady_clock::now();
      unsigned spins = 0;
      while ((g = p->gen.load(std::memory_order_acquire)) <= last && !p->stop.load(std::memory_order_relaxed)) {
        cpu_relax();
        if ((++spins & 255) == 0 && std::chrono::steady_clock::now() - t0 > kSpinTime) {
          std::unique_lock<std::mutex> lk(p->m);
          p->cv.wait(lk, [&] {
            return p->gen.load(std::memory_order_acquire) > last || p->stop.load(std::memory_order_acquire);
          });
          g = p->gen.load(std::memory_order_acquire);
          break;
        }
      }
    }
    if (p->stop.load(std::memory_order_acquire)) return;
    if (g <= last) continue;
    // Claim a slot of the newest published region (the ticket is published before gen, so it may be
    // newer than g: joining that one is just as right). fn/ctx/nt were written before the ticket, and
    // the caller leaves them alone until every claimed slot has finished.
    uint64_t t = p->ticket.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t region = t >> kSlotBits, slots = t & kSlotMask;
      if (region <= last) break;
      if (slots == 0) {
        last = region;
        break;
      }
      if (p->ticket.compare_exchange_weak(t, t - 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        last = region;
        const int nt = p->nt;
        p->fn(p->ctx, nt - static_cast<int>(slots), nt);  // slots nt-1 .. 1 -> thread ids 1 .. nt-1
        p->remaining.fetch_sub(1, std::memory_order_acq_rel);
        break;
      }
    }
    if (last < g) last = g;
  }
}

void start_workers(Pool* p, int n) {
  p->stop.store(false);
  p->total = n;
  p->workers.reserve(n > 1 ? n - 1 : 0);
  const uint64_t g = p->gen.load(std::memory_order_acquire);
  for (int t = 1; t < n; ++t) p->workers.emplace_back(worker_main, p, g);
}

void stop_workers(Pool* p) {
  {
    std::lock_guard<std::mutex> lk(p->m);
    p->stop.store(true, std::memory_order_release);
  }
  p->cv.notify_all();
  for (auto& w : p->workers) w.join();
  p->workers.clear();
  p->total = 1;
}

int initial_threads() {
  if (const char* s = std::getenv("AELAB_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (end != s && *end == '\0' && v >= 1 && v <= 256) return static_cast<int>(v);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc > 256 ? 256 : hc);
}

Pool* pool() {
  std::call_once(g_once, [] {
    g_pool = new Pool();
    start_workers(g_pool, initial_threads());
  });
  return g_pool;
}

void wait_until_zero(std::atomic<int>& a) {
  auto t0 = std::chrono::steady_clock::now();
  unsigned spins = 0;
  while (a.load(std::memory_order_acquire) != 0) {
    cpu_relax();
    if ((++spins & 255) == 0 && std::chrono::steady_clock::now() - t0 > kSpinTime) std::this_thread::yield();
  }
}

}  // namespace

int pool_threads() { return pool()->total; }

void pool_set_threads(int n) {
  Pool* p = pool();
  if (n < 1) n = 1;
  std::lock_guard<std::mutex> run(p->runLock);
  if (n == p->total) return;
  stop_workers(p);
  start_workers(p, n);
}

namespace {

void run_region(RegionFn fn, void* ctx, int want, bool shared) {
  Pool* p = pool();
  if (t_inRegion || want <= 1) {  // nested regions run inline
    fn(ctx, 0, 1);
    return;
  }
  std::lock_guard<std::mutex> run(p->runLock);
  const int nt = want < p->total ? want : p->total;
  if (nt <= 1) {
    fn(ctx, 0, 1);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->nt = nt;
  p->remaining.store(nt - 1, std::memory_order_relaxed);
  const uint64_t g = p->gen.load(std::memory_order_relaxed) + 1;  // only region callers (under runLock) change gen
  p->ticket.store((g << kSlotBits) | static_cast<uint64_t>(nt - 1), std::memory_order_release);
  {
    std::lock_guard<std::mutex> lk(p->m);
    p->gen.store(g, std::memory_order_release);
  }
  p->cv.notify_all();
  t_inRegion = true;
  fn(ctx, 0, nt);
  t_inRegion = false;
  if (shared) {
    // No work is left: withdraw the slots no worker has claimed, so only running workers are waited for.
    uint64_t t = p->ticket.load(std::memory_order_acquire);
    while ((t >> kSlotBits) == g && (t & kSlotMask) != 0) {
      if (p->ticket.compare_exchange_weak(t, g << kSlotBits, std::memory_order_acq_rel, std::memory_order_acquire)) {
        p->remaining.fetch_sub(static_cast<int>(t & kSlotMask), std::memory_order_acq_rel);
        break;
      }
    }
  }
  wait_until_zero(p->remaining);
}

}  // namespace

void pool_run(RegionFn fn, void* ctx, int want) { run_region(fn, ctx, want, false); }

void pool_run_shared(RegionFn fn, void* ctx, int want) { run_region(fn, ctx, want, true); }

void pool_barrier(int nthreads) {
  if (nthreads <= 1) return;
  Pool* p = g_pool;
  const int g = p->barGen.load(std::memory_order_acquire);
  if (p->barCount.fetch_add(1, std::memory_order_acq_rel) == nthreads - 1) {
    p->barCount.store(0, std::memory_order_relaxed);
    p->barGen.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  unsigned spins = 0;
  while (p->barGen.load(std::memory_order_acquire) == g) {
    cpu_relax();
    if ((++spins & 255) == 0 && std::chrono::steady_clock::now() - t0 > kSpinTime) std::this_thread::yield();
  }
}

}  // namespace aelab

// Persistent worker pool. Workers are created once (AELAB_THREADS or the hardware concurrency) and
// reused for every parallel kernel. After a region ends they spin briefly (the next kernel usually
// follows within microseconds), then block on a condition variable so they never compete for a core
// with OpenBLAS's own threads during a GEMM.
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
  std::atomic<uint64_t> gen{0};
  std::atomic<int> remaining{0};
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

// `seen` is the generation current when the worker was created (read by the creator under runLock):
// reading it here instead would miss a region dispatched before this thread got to run.
void worker_main(Pool* p, int tid, uint64_t seen) {
  t_inRegion = true;
  for (;;) {
    uint64_t g = p->gen.load(std::memory_order_acquire);
    if (g == seen) {
      auto t0 = std::chrono::steady_clock::now();
      unsigned spins = 0;
      while ((g = p->gen.load(std::memory_order_acquire)) == seen) {
        cpu_relax();
        if ((++spins & 255) == 0 && std::chrono::steady_clock::now() - t0 > kSpinTime) {
          std::unique_lock<std::mutex> lk(p->m);
          p->cv.wait(lk, [&] {
            return p->gen.load(std::memory_order_acquire) != seen || p->stop.load(std::memory_order_acquire);
          });
          g = p->gen.load(std::memory_order_acquire);
          break;
        }
      }
    }
    if (p->stop.load(std::memory_order_acquire)) return;
    if (g == seen) continue;
    seen = g;
    const int nt = p->nt;
    if (tid < nt) {
      p->fn(p->ctx, tid, nt);
      p->remaining.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

void start_workers(Pool* p, int n) {
  p->stop.store(false);
  p->total = n;
  p->workers.reserve(n > 1 ? n - 1 : 0);
  const uint64_t g = p->gen.load(std::memory_order_acquire);
  for (int t = 1; t < n; ++t) p->workers.emplace_back(worker_main, p, t, g);
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

void pool_run(RegionFn fn, void* ctx, int want) {
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
  {
    std::lock_guard<std::mutex> lk(p->m);
    p->gen.fetch_add(1, std::memory_order_acq_rel);
  }
  p->cv.notify_all();
  t_inRegion = true;
  fn(ctx, 0, nt);
  t_inRegion = false;
  wait_until_zero(p->remaining);
}

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

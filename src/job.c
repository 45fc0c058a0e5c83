/*
 * job.c — a job: a span of tasks sharing one function and two strided
 * arrays, and the protocol by which workers claim its tasks.
 *
 * Claims are one atomic operation on `next`; nothing else is shared
 * between the workers of one job. Automatic batching (batch = 0) sizes each
 * claim so that it holds about target_ns of work: it starts at one task,
 * grows by `growth` per claim while the job's per-task estimate is unknown
 * or small, and never takes more than half a fair share of what is left,
 * so the last tasks still spread over every worker.
 */
#include "parc_internal.h"

#include <stddef.h>
#include <stdint.h>

/* Claims write `next` and the estimate: each alone on its cache line. */
_Static_assert(_Alignof(parc__job) == 64, "a job is cache-line aligned (job_new aligns it)");
_Static_assert(offsetof(parc__job, next) % 64 == 0, "`next` starts a cache line");
_Static_assert(offsetof(parc__job, ns_per_task) - offsetof(parc__job, next) >= 64,
               "`next` and the estimate share no cache line");

parc__job *parc__job_new(size_t count, bool status_bytes, size_t copy_size) {
  /* One block: the job (aligned to a cache line), its status bytes, then
     the input copy. calloc, not malloc + memset: a large block comes zeroed
     from the kernel, and a zero status byte means pending. parc_map's jobs
     have no status bytes: fresh pages cost 20-50 us each to fault in on
     some VMs, which for a byte per task was 10 ns per task. */
  size_t nstatus = status_bytes ? count : 0;
  if (count > SIZE_MAX / 2) return NULL;
  size_t header = (sizeof(parc__job) + nstatus + 15) & ~(size_t)15;
  if (copy_size > SIZE_MAX - header - 64) return NULL;
  char *block = parc__calloc(1, header + copy_size + 64);
  if (!block) return NULL;
  parc__job *job = (parc__job *)(block + (64 - (uintptr_t)block % 64) % 64);
  job->block = block;
  job->count = count;
  job->record.count = count;
  job->record.status = nstatus ? (_Atomic signed char *)(job + 1) : NULL;
  job->record.canceled = &job->canceled;
  job->outputs.count = count;
  job->outputs.id = parc__outputs_id();
  if (copy_size) job->owned_input = (char *)job + header;
  return job;
}

void parc__job_free(parc__job *job) {
  if (!job) return;
  parc__outputs_clear(&job->outputs);
  parc__free(job->block);
}

void parc__job_observe(parc__job *job, size_t count, uint64_t elapsed_ns) {
  uint64_t per_task = elapsed_ns / (count ? count : 1);
  if (per_task == 0) per_task = 1;
  uint64_t old = atomic_load_explicit(&job->ns_per_task, memory_order_relaxed);
  uint64_t estimate = old ? (3 * old + per_task) / 4 : per_task;
  atomic_store_explicit(&job->ns_per_task, estimate ? estimate : 1, memory_order_relaxed);
}

void parc__job_cancel(parc__job *job) { atomic_store(&job->canceled, true); }

/*
 * shared.c — parc_shared_alloc: memory at the same address in the caller
 * and in every process worker.
 *
 * How: one large region of address space (64 GiB by default, halved until
 * the kernel grants it) is mapped MAP_SHARED | MAP_NORESERVE from an
 * anonymous memfd, once per process, at the first parc_shared_alloc or the
 * first PARC_PROCESSES pool, whichever comes first. No /dev/shm name
 * exists; the memfd stays open (close-on-exec) so that an exec-start fork
 * server (process_exec.c) can map it again. Forked workers inherit the very
 * same mapping; an exec'd server maps the memfd at the same address, which
 * is why the region asks for a fixed hint (REGION_HINT) that a fresh
 * process, sanitizers included, leaves free. So a block handed out later is
 * at the same address everywhere, and writes are seen by all. Pages cost
 * memory only once touched.
 *
 * The allocator is small: a bump pointer plus a sorted list of free ranges
 * (first fit, coalescing), kept in the caller's heap under one mutex. Every
 * free range is kept zero-filled — whole pages are returned to the kernel
 * with MADV_REMOVE, partial pages are cleared — so allocations need no
 * memset and untouched memory is never committed. The process backend takes
 * its own channels from here too.
 */
#include "parc_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REGION_MAX ((size_t)64 << 30)
#define REGION_MIN ((size_t)256 << 20)
/* Below every top-down mapping of a fresh process (the randomised mmap base
   stays within 1 TiB of the top of the address space), outside ASan's
   shadow and allocator, inside TSan's high application range. Only a hint:
   when it is taken the kernel chooses, and exec start may then fail. */
#define REGION_HINT ((void *)0x7e8000000000ull)
#define BLOCK_ALIGN ((size_t)64)
#define HEADER_SIZE BLOCK_ALIGN
#define BLOCK_MAGIC 0x70617263736d656dULL /* "parcsmem" */

typedef struct block_header {
  uint64_t magic;
  size_t size;                /* whole block, header included */
} block_header;

typedef struct range {
  size_t offset, size;
} range;

static struct {
  char *base;
  size_t size;
  size_t top;                 /* everything at or past top is unused */
  range *free;                /* sorted by offset, never adjacent */
  size_t nfree, capacity;
  int init_error;             /* errno of the failed mapping, 0 if none */
  int fd;                     /* the memfd (close-on-exec), -1 when attached or none */
} region = {.fd = -1};

static pthread_once_t region_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;
bool parc__in_worker;

static void region_map(void) {
  int fd = memfd_create("parc-shared", MFD_CLOEXEC);
  if (fd < 0) {
    region.init_error = errno;
    return;
  }
  for (size_t size = REGION_MAX; size >= REGION_MIN; size /= 2) {
    if (ftruncate(fd, (off_t)size) != 0) continue;
    void *p = mmap(REGION_HINT, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) continue;
    region.base = p;
    region.size = size;
    /* Offset 0 stays unused so that no block starts at the region's base. */
    region.top = BLOCK_ALIGN;
    break;
  }
  if (!region.base) {
    region.init_error = errno ? errno : ENOMEM;
    close(fd);
    return;
  }
  region.fd = fd;
}

static void region_attached(void) {}

int parc__shared_attach(int fd, void *base, size_t size) {
  void *p = mmap(base, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                 fd, 0);
  if (p == MAP_FAILED) return -1;
  if (p != base) { /* a kernel before 4.17 takes the flag as a hint */
    munmap(p, size);
    return -1;
  }
  region.base = base;
  region.size = size;
  region.top = size; /* nothing to hand out here */
  pthread_once(&region_once, region_attached);
  return 0;
}

int parc__shared_fd(void **base, size_t *size) {
  *base = region.base;
  *size = region.size;
  return region.fd;
}

int parc__shared_init(void) {
  pthread_once(&region_once, region_map);
  if (region.base) return PARC_OK;
  errno = region.init_error;
  return parc__error_errno("parc_shared_alloc: cannot map the shared region");
}

bool parc__shared_contains(const void *p, size_t size) {
  const char *c = p;
  if (!region.base || !c || c < region.base) return false;
  size_t offset = (size_t)(c - region.base);
  return offset <= region.size && size <= region.size - offset;
}

/* Clears [offset, offset + size): whole pages go back to the kernel. */
static void zero_range(size_t offset, size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char *start = region.base + offset, *end = start + size;
  char *first = (char *)(((uintptr_t)start + page - 1) & ~(uintptr_t)(page - 1));
  char *last = (char *)((uintptr_t)end & ~(uintptr_t)(page - 1));
  if (first < last && madvise(first, (size_t)(last - first), MADV_REMOVE) == 0) {
    memset(start, 0, (size_t)(first - start));
    memset(last, 0, (size_t)(end - last));
  } else {
    memset(start, 0, size);
  }
}

/* Takes `size` bytes from the free list or the top (lock held); offset or 0. */
static size_t take(size_t size) {
  for (size_t i = 0; i < region.nfree; i++) {
    range *r = &region.free[i];
    if (r->size < size) continue;
    size_t offset = r->offset;
    r->offset += size;
    r->size -= size;
    if (r->size == 0) {
      memmove(r, r + 1, (region.nfree - i - 1) * sizeof *r);
      region.nfree--;
    }
    return offset;
  }
  if (size > region.size - region.top) return 0;
  size_t offset = region.top;
  region.top += size;
  return offset;
}

/* Returns a zeroed range to the allocator (lock held). */
static void give_back(size_t offset, size_t size) {
  size_t i = 0;
  while (i < region.nfree && region.free[i].offset < offset) i++;
  bool joins_prev = i > 0 && region.free[i - 1].offset + region.free[i - 1].size == offset;
  bool joins_next = i < region.nfree && offset + size == region.free[i].offset;
  if (joins_prev && joins_next) {
    region.free[i - 1].size += size + region.free[i].size;
    memmove(&region.free[i], &region.free[i + 1], (region.nfree - i - 1) * sizeof(range));
    region.nfree--;
    i--;
  } else if (joins_prev) {
    region.free[--i].size += size;
  } else if (joins_next) {
    region.free[i].offset = offset;
    region.free[i].size += size;
  } else {
    if (region.nfree == region.capacity) {
      size_t capacity = region.capacity ? region.capacity * 2 : 64;
      range *grown = parc__realloc(region.free, capacity * sizeof *grown);
      if (!grown) return; /* The range is lost to this process; nothing breaks. */
      region.free = grown;
      region.capacity = capacity;
    }
    memmove(&region.free[i + 1], &region.free[i], (region.nfree - i) * sizeof(range));
    region.free[i] = (range){offset, size};
    region.nfree++;
  }
  /* A free range that reaches the top lowers it. */
  range *r = &region.free[i];
  if (r->offset + r->size == region.top) {
    region.top = r->offset;
    memmove(r, r + 1, (region.nfree - i - 1) * sizeof *r);
    region.nfree--;
  }
}

void *parc_shared_alloc(size_t size) {
  if (parc__in_worker) {
    parc__error(PARC_EINVAL, "parc_shared_alloc: not available inside a process worker; "
                             "allocate in the caller before mapping");
    return NULL;
  }
  if (parc__shared_init() != PARC_OK) return NULL;
  if (size > region.size) {
    parc__error(PARC_ENOMEM, "parc_shared_alloc: %zu bytes exceed the shared region (%zu bytes)",
                size, region.size);
    return NULL;
  }
  size_t total = (HEADER_SIZE + size + BLOCK_ALIGN - 1) & ~(BLOCK_ALIGN - 1);
  pthread_mutex_lock(&region_lock);
  size_t offset = take(total);
  pthread_mutex_unlock(&region_lock);
  if (offset == 0) {
    parc__error(PARC_ENOMEM, "parc_shared_alloc: the shared region (%zu bytes) has no %zu bytes left",
                region.size, size);
    return NULL;
  }
  block_header *h = (block_header *)(region.base + offset);
  h->magic = BLOCK_MAGIC;
  h->size = total;
  return (char *)h + HEADER_SIZE;
}

void parc_shared_free(void *p) {
  if (!p || parc__in_worker) return;
  if (!parc__shared_contains((char *)p - HEADER_SIZE, HEADER_SIZE)) return;
  block_header *h = (block_header *)((char *)p - HEADER_SIZE);
  size_t offset = (size_t)((char *)h - region.base);
  pthread_mutex_lock(&region_lock);
  /* A pointer we never handed out, or a second free, has no magic. */
  if (h->magic != BLOCK_MAGIC || h->size > region.size - offset) {
    pthread_mutex_unlock(&region_lock);
    return;
  }
  size_t size = h->size;
  zero_range(offset, size);
  give_back(offset, size);
  pthread_mutex_unlock(&region_lock);
}

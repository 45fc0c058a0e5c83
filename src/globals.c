/*
 * globals.c — the program's writable globals, found and hashed.
 *
 * Why: a PROCESSES worker sees the caller's globals as they were when its
 * fork server was made (fork start) or as at program start (exec start).
 * A program ported from threads that sets a global after creating the
 * pool and reads it in tasks gets stale values with PARC_OK: an all-zero
 * image, a strlen of 6 instead of 19. backend_process.c takes a picture
 * (a hash per page) of the image its workers have, compares the globals
 * with it as each group ends, and warns once per pool. Pages holding
 * buffers that crossed the API (parc__globals_note: static input, output
 * and status arrays, contexts) are left out: the program writes its
 * inputs, parc its outputs, and the workers get those bytes anyway.
 *
 * What is hashed: the executable's .data and .bss, from its section
 * headers (/proc/self/exe) and its load address (dl_iterate_phdr's first
 * object). Not the whole writable segment: .got and .got.plt change as
 * lazy binding resolves functions, which would be false alarms. Objects a
 * shared library owns but the executable holds through copy relocations
 * (environ, optind, stdout: R_*_COPY in .rela.dyn) are left out too: the C
 * library writes them (setenv, getopt) and they are not the program's.
 * Shared libraries' globals are not looked at: libparc's own, when it is a
 * shared library, are there, and change as it works.
 *
 * When it is off: libparc linked statically (its own globals then sit in
 * the executable's .data and .bss, beside the program's, and change
 * legitimately: they cannot be told apart without a symbol table), a
 * file that is not a native ELF, a .data or .bss not found, or the
 * environment PARC_GLOBALS_WARNING=0.
 *
 * Cost: XXH3-64 (dispatched SIMD) at memory speed, about 40 us per MiB.
 * Globals over GLOBALS_FULL_MAX bytes are sampled, so that a check reads
 * about GLOBALS_FULL_MAX: units of GLOBALS_RUN bytes (long enough for the
 * prefetcher; single pages strided through memory cost three times as
 * much), one in every `stride` (the first among them) and always each
 * range's last, where small variables beside a large array may be. A
 * change confined to the runs left out goes unnoticed.
 *
 * The hash at program start is taken by a constructor of libparc, which
 * runs before the executable's own constructors, as in an exec-started
 * fork server (process_exec.c becomes the server in its constructor): the
 * two images agree except for pointers, which each process relocates to
 * its own load address and which therefore compare equal in its own terms.
 */
#include "parc_internal.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY   /* XXH3_state_t on the stack */
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
/* The SIMD dispatcher when libxxhash.so has it (weak: libxxhash.a lacks it). */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#pragma weak XXH3_64bits_dispatch
#define GLOBALS_DISPATCH 1
#endif

#define GLOBALS_FULL_MAX ((size_t)2 << 20)
#define GLOBALS_RUN ((uintptr_t)64 << 10)
#define GLOBALS_RANGES 64         /* .data and .bss, cut around copy relocations */

#if defined(__x86_64__)
#define GLOBALS_R_COPY R_X86_64_COPY
#elif defined(__aarch64__)
#define GLOBALS_R_COPY R_AARCH64_COPY
#endif

typedef struct globals_range { uintptr_t start, end; } globals_range;

/* Written once by find(), under pthread_once; read-only after. */
static struct {
  bool usable;
  globals_range range[GLOBALS_RANGES];
  int n;
  size_t bytes;
  size_t stride;               /* runs: 1 = everything */
  struct parc__globals_image *at_start;   /* taken before main; never freed */
} G;

static pthread_once_t G_once = PTHREAD_ONCE_INIT;

static int first_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  *(uintptr_t *)arg = (uintptr_t)info->dlpi_addr;
  return 1;   /* the first object is the executable */
}

static bool read_at(int fd, void *buf, size_t n, off_t offset) {
  return pread(fd, buf, n, offset) == (ssize_t)n;
}

/* Removes [start, end) from the ranges (a copy-relocated object). */
static void cut(uintptr_t start, uintptr_t end) {
  for (int i = 0; i < G.n; i++) {
    globals_range *r = &G.range[i];
    if (end <= r->start || start >= r->end) continue;
    if (start > r->start && end < r->end) {
      if (G.n == GLOBALS_RANGES) return;   /* too many holes: keep the object in */
      memmove(r + 2, r + 1, (size_t)(G.n - i - 1) * sizeof *r);
      G.n++;
      r[1] = (globals_range){end, r->end};
      r->end = start;
      return;
    }
    if (start <= r->start) r->start = end < r->end ? end : r->end;
    else r->end = start;
  }
}

/* The copy relocations of .rela.dyn: each names a .dynsym entry whose
   st_size bytes at r_offset belong to a shared library. */
static void cut_copies(int fd, const ElfW(Shdr) *rela, const ElfW(Shdr) *dynsym, uintptr_t bias) {
#ifdef GLOBALS_R_COPY
  if (!rela || !dynsym || rela->sh_entsize != sizeof(ElfW(Rela)) ||
      dynsym->sh_entsize != sizeof(ElfW(Sym)) || rela->sh_size > ((size_t)64 << 20) ||
      dynsym->sh_size > ((size_t)64 << 20))
    return;
  ElfW(Rela) *r = parc__malloc(rela->sh_size ? rela->sh_size : 1);
  ElfW(Sym) *s = parc__malloc(dynsym->sh_size ? dynsym->sh_size : 1);
  size_t nr = rela->sh_size / sizeof *r, ns = dynsym->sh_size / sizeof *s;
  if (r && s && read_at(fd, r, rela->sh_size, (off_t)rela->sh_offset) &&
      read_at(fd, s, dynsym->sh_size, (off_t)dynsym->sh_offset)) {
    for (size_t i = 0; i < nr; i++) {
      if (ELF64_R_TYPE(r[i].r_info) != GLOBALS_R_COPY) continue;
      size_t k = ELF64_R_SYM(r[i].r_info);
      if (k < ns) cut(bias + r[i].r_offset, bias + r[i].r_offset + s[k].st_size);
    }
  }
  parc__free(r);
  parc__free(s);
#else
  (void)fd, (void)rela, (void)dynsym, (void)bias;
#endif
}

/* Reads the executable's section headers; fills G. */
static void find(void) {
  if (getenv("PARC_GLOBALS_WARNING") && strcmp(getenv("PARC_GLOBALS_WARNING"), "0") == 0) return;
  uintptr_t bias = 0;
  dl_iterate_phdr(first_object, &bias);
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ElfW(Ehdr) eh;
  ElfW(Shdr) *sh = NULL;
  char *names = NULL;
  if (!read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
      eh.e_shentsize != sizeof *sh || eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum)
    goto done;
  sh = parc__malloc((size_t)eh.e_shnum * sizeof *sh);
  if (!sh || !read_at(fd, sh, (size_t)eh.e_shnum * sizeof *sh, (off_t)eh.e_shoff)) goto done;
  const ElfW(Shdr) *strtab = &sh[eh.e_shstrndx];
  if (strtab->sh_size == 0 || strtab->sh_size > (1u << 20)) goto done;
  names = parc__malloc(strtab->sh_size + 1);
  if (!names || !read_at(fd, names, strtab->sh_size, (off_t)strtab->sh_offset)) goto done;
  names[strtab->sh_size] = '\0';
  const ElfW(Shdr) *data = NULL, *bss = NULL, *rela = NULL, *dynsym = NULL;
  for (int i = 0; i < eh.e_shnum; i++) {
    if (sh[i].sh_name >= strtab->sh_size) continue;
    const char *name = names + sh[i].sh_name;
    if (strcmp(name, ".data") == 0 && sh[i].sh_type == SHT_PROGBITS) data = &sh[i];
    else if (strcmp(name, ".bss") == 0 && sh[i].sh_type == SHT_NOBITS) bss = &sh[i];
    else if (strcmp(name, ".rela.dyn") == 0 && sh[i].sh_type == SHT_RELA) rela = &sh[i];
    else if (sh[i].sh_type == SHT_DYNSYM) dynsym = &sh[i];
  }
  if (!data && !bss) goto done;
  const ElfW(Shdr) *both[2] = {data, bss};
  for (int i = 0; i < 2; i++)
    if (both[i] && both[i]->sh_size && (both[i]->sh_flags & SHF_WRITE))
      G.range[G.n++] = (globals_range){bias + both[i]->sh_addr,
                                       bias + both[i]->sh_addr + both[i]->sh_size};
  /* libparc inside the executable: its globals (this G among them) would
     count as the program's. */
  for (int i = 0; i < G.n; i++)
    if ((uintptr_t)&G >= G.range[i].start && (uintptr_t)&G < G.range[i].end) {
      G.n = 0;
      goto done;
    }
  cut_copies(fd, rela, dynsym, bias);
  for (int i = 0; i < G.n; i++) G.bytes += G.range[i].end - G.range[i].start;
  G.stride = G.bytes > GLOBALS_FULL_MAX ? (G.bytes + GLOBALS_FULL_MAX - 1) / GLOBALS_FULL_MAX : 1;
  G.usable = G.n > 0;
done:
  parc__free(names);
  parc__free(sh);
  close(fd);
}

/* Sanitizers: under ASan the globals carry poisoned redzones, and the
   library's memcpy (intercepted) would report reading them; under TSan
   reading words other threads write is a race by design (a changed word
   is all we look for). So sanitized builds copy the globals here, byte by
   byte (volatile: never turned into a memcpy call), uninstrumented, and
   hash the copy; libxxhash itself is not instrumented. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GLOBALS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GLOBALS_SANITIZED 1
#endif
#endif

#ifdef GLOBALS_SANITIZED
__attribute__((no_sanitize_address, no_sanitize_thread)) static void copy_raw(uint8_t *dst,
                                                                              uintptr_t src,
                                                                              size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = ((const volatile uint8_t *)src)[i];
}
#else
static void copy_raw(uint8_t *dst, uintptr_t src, size_t n) { memcpy(dst, (const void *)src, n); }
#endif

/* ---- units ------------------------------------------------------------------ */
/* The globals are compared unit by unit (4 KiB pages; 64 KiB runs when
   sampled), so that units holding buffers that crossed the API (noted
   below) can be left out of a comparison after the picture was taken. */

static uintptr_t unit_size(void) { return G.stride == 1 ? 4096 : GLOBALS_RUN; }

/* The units a picture holds, in order: it.a .. it.b, one per call. */
typedef struct unit_iter {
  int range;
  size_t k;                    /* units seen in this range, taken or not */
  uintptr_t a, b;
} unit_iter;

static bool unit_next(unit_iter *it) {
  uintptr_t u = unit_size();
  while (it->range < G.n) {
    uintptr_t end = G.range[it->range].end;
    uintptr_t a = it->k == 0 ? G.range[it->range].start : it->b;
    if (a >= end) {
      it->range++;
      it->k = 0;
      continue;
    }
    uintptr_t b = (a / u + 1) * u;
    it->a = a;
    it->b = b < end ? b : end;
    bool take = G.stride == 1 || it->k % G.stride == 0 || it->b == end;
    it->k++;
    if (take) return true;
  }
  return false;
}

static uint64_t xxh64(const void *p, size_t n) {
#ifdef GLOBALS_DISPATCH
  if (XXH3_64bits_dispatch) return XXH3_64bits_dispatch(p, n);
#endif
  return XXH3_64bits(p, n);
}

/* XXH3-64 of [a, b), the 8 bytes at slot (if inside) read as zero; buf
   holds a unit (not on the stack: a caller's thread may have a small one). */
static uint64_t unit_hash(uintptr_t a, uintptr_t b, uintptr_t slot, uint8_t *buf) {
  bool inside = slot >= a && slot + 8 <= b;
#ifndef GLOBALS_SANITIZED
  if (!inside) return xxh64((const void *)a, b - a);
#endif
  copy_raw(buf, a, b - a);
  if (inside) memset(buf + (slot - a), 0, 8);
  return xxh64(buf, b - a);
}

struct parc__globals_image {
  size_t n;
  uint64_t hash[];
};

parc__globals_image *parc__globals_take(const void *slot) {
  pthread_once(&G_once, find);
  if (!G.usable) return NULL;
  size_t n = 0;
  for (unit_iter it = {0}; unit_next(&it);) n++;
  parc__globals_image *img = parc__malloc(sizeof *img + n * sizeof img->hash[0]);
  uint8_t *buf = parc__malloc(GLOBALS_RUN);
  if (img && buf) {
    img->n = 0;
    for (unit_iter it = {0}; unit_next(&it);)
      img->hash[img->n++] = unit_hash(it.a, it.b, (uintptr_t)slot, buf);
  } else {
    parc__free(img);
    img = NULL;
  }
  parc__free(buf);
  return img;
}

void parc__globals_free(parc__globals_image *img) {
  if (img != G.at_start) parc__free(img);
}

const parc__globals_image *parc__globals_at_start(void) {
  pthread_once(&G_once, find);
  return G.at_start;
}

/* ---- buffers that crossed the API ------------------------------------------ */
/* A map's input and output arrays and a group's context may well be
   globals (static arrays): the program writes the inputs, parc writes the
   outputs. Neither is a global a task reads behind the API's back, so
   their units are left out of every comparison from then on. */

#define GLOBALS_NOTES 256
static pthread_mutex_t notes_lock = PTHREAD_MUTEX_INITIALIZER;
static globals_range notes[GLOBALS_NOTES];   /* notes_lock */
static int nnotes;                           /* notes_lock; -1: too many, check off */

void parc__globals_note(const void *p, size_t n) {
  pthread_once(&G_once, find);
  uintptr_t a = (uintptr_t)p, b = a + n;
  if (!G.usable || n == 0 || b <= G.range[0].start || a >= G.range[G.n - 1].end) return;
  pthread_mutex_lock(&notes_lock);
  bool known = nnotes < 0;
  for (int i = 0; i < nnotes && !known; i++) known = notes[i].start <= a && b <= notes[i].end;
  if (!known) {
    if (nnotes == GLOBALS_NOTES) nnotes = -1;   /* never a false alarm: stop checking */
    else notes[nnotes++] = (globals_range){a, b};
  }
  pthread_mutex_unlock(&notes_lock);
}

bool parc__globals_changed(const parc__globals_image *img, const void *slot) {
  if (!img) return false;
  pthread_mutex_lock(&notes_lock);
  int n = nnotes;
  globals_range *skip = n > 0 ? parc__malloc((size_t)n * sizeof *skip) : NULL;
  if (skip) memcpy(skip, notes, (size_t)n * sizeof *skip);
  pthread_mutex_unlock(&notes_lock);
  uint8_t *buf = n >= 0 ? parc__malloc(GLOBALS_RUN) : NULL;
  if (!buf || (n > 0 && !skip)) {
    parc__free(skip);
    parc__free(buf);
    return false;
  }
  bool changed = false;
  size_t k = 0;
  for (unit_iter it = {0}; unit_next(&it) && !changed; k++) {
    bool left_out = false;
    for (int i = 0; i < n && !left_out; i++)
      left_out = skip[i].start < it.b && it.a < skip[i].end;
    changed = !left_out && k < img->n &&
              unit_hash(it.a, it.b, (uintptr_t)slot, buf) != img->hash[k];
  }
  parc__free(skip);
  parc__free(buf);
  return changed;
}

/* Before main (and before the executable's own constructors): the image
   an exec-started worker will have. */
__attribute__((constructor)) static void globals_at_start(void) {
  G.at_start = parc__globals_take(NULL);
}

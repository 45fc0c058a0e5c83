/*
 * os.h — leaves of parc_internal.h that reach past libc into the process
 * and the kernel: function references (fnref.c), the shared memory region
 * (shared.c), futexes (futex.c). Included by parc_internal.h only.
 */
#ifndef PARC_OS_H
#define PARC_OS_H

#include <stdbool.h>
#include <stdint.h>

/* ---- fnref.c: function references ------------------------------------- */
#define PARC__FN_UNKNOWN UINTPTR_MAX
/* Where fn lies: the name of its object as dl_iterate_phdr gives it ("" for
   the program), its offset from the object's load address, and the path of
   its file (path may be NULL). False (and *offset = PARC__FN_UNKNOWN) when
   no loaded object holds it. */
bool parc__fn_locate(const void *fn, char object[PARC__PATH_MAX], uintptr_t *offset);
/* The address of (object, offset) in this process, NULL when not loaded. */
void *parc__fn_resolve(const char *object, uintptr_t offset);
/* fn's symbol name (heap) and code size from the dynamic symbol table or
   the ELF .symtab/.dynsym of its file. False when neither has a function
   symbol starting exactly at fn (stripped binary). */
bool parc__fn_symbol(parc_fn fn, char **name, size_t *size);

/* ---- shared.c: shared memory ------------------------------------------ */
/* Maps the process-wide shared region (once); PARC_OK or PARC_ESYS with a
   message. Process pools call it before forking. */
int parc__shared_init(void);
/* True when [p, p + size) lies inside the shared region. */
bool parc__shared_contains(const void *p, size_t size);
/* True in a process worker (and its fork server): parc_shared_alloc is off. */
extern bool parc__in_worker;
/* The region's memfd (close-on-exec; -1 when none) and where it is mapped. */
int parc__shared_fd(void **base, size_t *size);
/* In an exec'd fork server: maps the memfd at `base` (MAP_FIXED_NOREPLACE)
   and makes it this process's region. 0, or -1 with errno. */
int parc__shared_attach(int fd, void *base, size_t size);

/* ---- futex.c: futexes on shared memory (they work across processes) --- */
void parc__futex_wait(_Atomic uint32_t *word, uint32_t old, uint64_t timeout_ns);
void parc__futex_wake(_Atomic uint32_t *word);

#endif /* PARC_OS_H */

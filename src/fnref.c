/*
 * fnref.c — function references: where a function lies (its object and
 * offset, so that another process running the same program finds it: exec
 * start, MPI), and what it is for the cache (its symbol name and the extent
 * of its machine code).
 *
 * Names:
 * First ask the dynamic linker (dladdr1 with RTLD_DL_SYMENT): that answers
 * for exported functions of shared objects and of executables linked with
 * -rdynamic. A static function, or any function of an ordinary executable,
 * is not in the dynamic symbol table; then read the ELF file it was loaded
 * from (/proc/self/exe for the program) and search .symtab, then .dynsym,
 * for a function symbol starting exactly at its address. A stripped file
 * has no .symtab: the function then has no name and no size, and the
 * cache leaves the fingerprint out (its key is name and version alone).
 */
#include "parc_internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct locate_query {
  uintptr_t address;
  const char *object;
  uintptr_t base;
  bool found;
} locate_query;

static int locate_one(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  locate_query *q = arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (q->address >= start && q->address - start < ph->p_memsz) {
      q->object = info->dlpi_name ? info->dlpi_name : "";
      q->base = info->dlpi_addr;
      q->found = true;
      return 1;
    }
  }
  return 0;
}

bool parc__fn_locate(const void *fn, char object[PARC__PATH_MAX], uintptr_t *offset) {
  locate_query q = {(uintptr_t)fn, NULL, 0, false};
  object[0] = '\0';
  *offset = PARC__FN_UNKNOWN;
  if (!fn) return false;
  dl_iterate_phdr(locate_one, &q);
  if (!q.found || strlen(q.object) >= PARC__PATH_MAX) return false;
  snprintf(object, PARC__PATH_MAX, "%s", q.object);
  *offset = q.address - q.base;
  return true;
}

static int resolve_one(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  locate_query *q = arg;
  if (strcmp(info->dlpi_name ? info->dlpi_name : "", q->object) != 0) return 0;
  q->base = info->dlpi_addr;
  q->found = true;
  return 1;
}

void *parc__fn_resolve(const char *object, uintptr_t offset) {
  if (offset == PARC__FN_UNKNOWN) return NULL;
  locate_query q = {0, object, 0, false};
  dl_iterate_phdr(resolve_one, &q);
  return q.found ? (void *)(q.base + offset) : NULL;
}

/* ---- symbols ------------------------------------------------------------- */

/* Searches one symbol table section of a mapped ELF file. */
static bool search_table(const uint8_t *file, size_t file_size, const ElfW(Shdr) *sections,
                         size_t nsections, size_t which, ElfW(Addr) value, char **name,
                         size_t *size) {
  const ElfW(Shdr) *table = &sections[which];
  if (table->sh_link >= nsections || table->sh_entsize != sizeof(ElfW(Sym))) return false;
  const ElfW(Shdr) *strings = &sections[table->sh_link];
  if (table->sh_offset > file_size || table->sh_size > file_size - table->sh_offset ||
      strings->sh_offset > file_size || strings->sh_size > file_size - strings->sh_offset)
    return false;
  const ElfW(Sym) *symbols = (const ElfW(Sym) *)(file + table->sh_offset);
  size_t count = table->sh_size / sizeof(ElfW(Sym));
  const char *names = (const char *)(file + strings->sh_offset);
  for (size_t i = 0; i < count; i++) {
    const ElfW(Sym) *s = &symbols[i];
    if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_value != value || s->st_size == 0)
      continue;
    if (s->st_name >= strings->sh_size) continue;
    const char *n = names + s->st_name;
    if (!memchr(n, '\0', strings->sh_size - s->st_name)) continue;
    *name = parc__strdup(n);
    *size = (size_t)s->st_size;
    return *name != NULL;
  }
  return false;
}

/* Looks `value` (an address relative to the file's load base) up in the
   ELF file at path: .symtab first, .dynsym second. */
static bool search_file(const char *path, ElfW(Addr) value, char **name, size_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool found = false;
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(ElfW(Ehdr))) {
    close(fd);
    return false;
  }
  size_t file_size = (size_t)st.st_size;
  void *map = mmap(NULL, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return false;
  const uint8_t *file = map;
  const ElfW(Ehdr) *eh = map;
  bool valid = memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
               eh->e_shentsize == sizeof(ElfW(Shdr)) && eh->e_shoff <= file_size &&
               eh->e_shnum <= (file_size - eh->e_shoff) / sizeof(ElfW(Shdr));
  if (valid) {
    const ElfW(Shdr) *sections = (const ElfW(Shdr) *)(file + eh->e_shoff);
    for (int pass = 0; pass < 2 && !found; pass++) {
      uint32_t type = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
      for (size_t i = 0; i < eh->e_shnum && !found; i++)
        if (sections[i].sh_type == type)
          found = search_table(file, file_size, sections, eh->e_shnum, i, value, name, size);
    }
  }
  munmap(map, file_size);
  return found;
}

bool parc__fn_symbol(parc_fn fn, char **name, size_t *size) {
  *name = NULL;
  *size = 0;
  void *address;
  memcpy(&address, &fn, sizeof address);
  Dl_info info;
  const ElfW(Sym) *sym = NULL;
  /* dladdr answers with the nearest symbol below the address, which may be
     another function: only an exact start counts. */
  if (dladdr1(address, &info, (void **)&sym, RTLD_DL_SYMENT) && info.dli_saddr == address &&
      info.dli_sname && sym && sym->st_size > 0) {
    *name = parc__strdup(info.dli_sname);
    *size = (size_t)sym->st_size;
    return *name != NULL;
  }
  char object[PARC__PATH_MAX];
  uintptr_t offset;
  if (!parc__fn_locate(address, object, &offset)) return false;
  return search_file(object[0] ? object : "/proc/self/exe", (ElfW(Addr))offset, name, size);
}

/*
 * run_inputs.c — where the jobs of `parc run` come from, and what each runs.
 *
 * Sources combine as in GNU parallel: the cartesian product of groups, the
 * last group varying fastest; a linked source (:::+) joins the group of the
 * one before it and the group is as long as its shortest member. Jobs are
 * never stored: job seq's values are decoded from seq in mixed radix.
 *
 * The template is shell code; a value is never shell code. Each value is
 * single-quoted unless it consists only of characters the shell takes
 * literally (GNU parallel's set, so simple commands read the same in both
 * joblogs). Where the template has no shell syntax at all, the job can be
 * exec'd directly with the same result: run_inputs_argv builds that argv.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

/* ---- growing strings ------------------------------------------------------ */

int run_str_add(run_str *s, const char *text, size_t n) {
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->len + n + 1) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) return -1;
    s->p = p;
    s->cap = cap;
  }
  memcpy(s->p + s->len, text, n);
  s->len += n;
  s->p[s->len] = '\0';
  return 0;
}

static int is_literal_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '+' || c == '/';
}

static int needs_quotes(const char *v) {
  if (!*v) return 1;
  for (; *v; v++)
    if (!is_literal_char(*v)) return 1;
  return 0;
}

int run_str_quoted(run_str *s, const char *value) {
  if (!needs_quotes(value)) return run_str_add(s, value, strlen(value));
  if (run_str_add(s, "'", 1)) return -1;
  for (const char *q; (q = strchr(value, '\'')); value = q + 1)
    if (run_str_add(s, value, (size_t)(q - value)) || run_str_add(s, "'\\''", 4)) return -1;
  return run_str_add(s, value, strlen(value)) || run_str_add(s, "'", 1);
}

/* ---- sources -------------------------------------------------------------- */

static int add_source(run_inputs *in, char **values, size_t n, int linked) {
  run_source *s = realloc(in->sources, (in->nsources + 1) * sizeof *s);
  if (!s) return -1;
  in->sources = s;
  s[in->nsources++] = (run_source){values, n, linked && in->nsources > 0};
  return 0;
}

int run_inputs_add_words(run_inputs *in, char **words, size_t n, int linked) {
  char **values = calloc(n ? n : 1, sizeof *values);
  if (!values) goto nomem;
  for (size_t i = 0; i < n; i++)
    if (!(values[i] = strdup(words[i]))) goto nomem;
  if (add_source(in, values, n, linked) == 0) return 0;
nomem:
  if (values)
    for (size_t i = 0; i < n; i++) free(values[i]);
  free(values);
  fprintf(stderr, "parc run: out of memory\n");
  return -1;
}

/* Splits data at sep; a last record without its separator still counts. */
static int split_records(run_inputs *in, const char *data, size_t len, char sep, int linked) {
  size_t n = 0, cap = 16;
  char **values = malloc(cap * sizeof *values);
  int ok = values != NULL;
  for (size_t start = 0; ok && start < len;) {
    const char *end = memchr(data + start, sep, len - start);
    size_t stop = end ? (size_t)(end - data) : len;
    if (n == cap) {
      char **v = realloc(values, (cap *= 2) * sizeof *v);
      if (!(ok = v != NULL)) break;
      values = v;
    }
    if (!(ok = (values[n] = strndup(data + start, stop - start)) != NULL)) break;
    n++;
    start = stop + 1;
  }
  if (ok && add_source(in, values, n, linked) == 0) return 0;
  if (values)
    for (size_t i = 0; i < n; i++) free(values[i]);
  free(values);
  fprintf(stderr, "parc run: out of memory\n");
  return -1;
}

int run_inputs_add_file(run_inputs *in, const char *path, int nul, int linked) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "parc run: cannot read input file %s: %s\n", path, strerror(errno));
    return -1;
  }
  run_str all = {0};
  char buf[65536];
  size_t got;
  int rc = 0;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0)
    if (run_str_add(&all, buf, got)) {
      rc = -1;
      break;
    }
  if (ferror(f)) {
    fprintf(stderr, "parc run: cannot read %s: %s\n", path, strerror(errno));
    rc = -1;
  }
  if (f != stdin) fclose(f);
  if (rc == 0 && memchr(all.p ? all.p : "", '\0', all.len) && !nul) {
    /* A NUL in line-separated input cannot reach a command line intact. */
    fprintf(stderr, "parc run: %s holds a NUL byte; use -0 for NUL-separated input\n", path);
    rc = -1;
  }
  if (rc == 0) rc = split_records(in, all.p ? all.p : "", all.len, nul ? '\0' : '\n', linked);
  free(all.p);
  return rc;
}

/* ---- the template --------------------------------------------------------- */

/* Parses "{...}" at p; returns its length or 0 where it is literal text. */
static size_t parse_replacement(const char *p, run_token *t) {
  const char *q = p + 1;
  size_t source = 0;
  if (*q == '#' || *q == '%') {
    if (q[1] != '}') return 0;
    *t = (run_token){*q == '#' ? RUN_SEQ : RUN_SLOT, 0, NULL};
    return 3;
  }
  while (*q >= '0' && *q <= '9') {
    source = source * 10 + (size_t)(*q++ - '0');
    if (source > 100000) return 0;
  }
  if (q > p + 1 && source == 0) return 0;
  static const struct {
    const char *suffix;
    enum run_token_kind kind;
  } forms[] = {{"}", RUN_ARG}, {".}", RUN_NOEXT}, {"/}", RUN_BASE}, {"//}", RUN_DIR}, {"/.}", RUN_BASENOEXT}};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    size_t n = strlen(forms[i].suffix);
    if (strncmp(q, forms[i].suffix, n) == 0) {
      *t = (run_token){forms[i].kind, source, NULL};
      return (size_t)(q - p) + n;
    }
  }
  return 0;
}

static int add_token(run_inputs *in, run_token t) {
  run_token *v = realloc(in->tokens, (in->ntokens + 1) * sizeof *v);
  if (!v) return -1;
  in->tokens = v;
  v[in->ntokens++] = t;
  return 0;
}

static int add_text(run_inputs *in, const char *p, size_t n) {
  if (n == 0) return 0;
  char *text = strndup(p, n);
  if (!text || add_token(in, (run_token){RUN_TEXT, 0, text})) {
    free(text);
    return -1;
  }
  return 0;
}

static int parse_template(run_inputs *in, const char *tpl) {
  const char *text = tpl;
  for (const char *p = tpl; *p; p++) {
    run_token t;
    size_t n = *p == '{' ? parse_replacement(p, &t) : 0;
    if (n == 0) continue;
    if (t.source > in->nsources) {
      fprintf(stderr, "parc run: {%zu} names input source %zu, but there %s %zu\n", t.source,
              t.source, in->nsources == 1 ? "is" : "are", in->nsources);
      return -1;
    }
    if (add_text(in, text, (size_t)(p - text)) || add_token(in, t)) return -1;
    in->has_replacement = 1;
    p += n - 1;
    text = p + 1;
  }
  return add_text(in, text, strlen(text));
}

/* ---- can the template run without a shell? --------------------------------- */

/* Words a shell treats itself: running the program of the same name may
   differ. true and false cannot; echo is checked per job. */
static int is_shell_word(const char *w, size_t n) {
  static const char *const words[] = {
      ".", ":", "[", "[[", "alias", "bg", "break", "builtin", "case", "cd", "command", "continue",
      "declare", "do", "done", "elif", "else", "esac", "eval", "exec", "exit", "export", "fc",
      "fg", "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "kill", "let",
      "local", "printf", "pwd", "read", "readonly", "return", "select", "set", "shift", "source",
      "test", "then", "time", "times", "trap", "type", "typeset", "ulimit", "umask", "unalias",
      "unset", "until", "wait", "while", "coproc", "enable", "mapfile", "readarray", "shopt",
      "suspend", "disown", "history", "logout", "dirs", "popd", "pushd", "caller", "compgen",
      "complete", "compopt", "bind", "help", "newgrp"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strlen(words[i]) == n && strncmp(words[i], w, n) == 0) return 1;
  return 0;
}

static int is_plain_char(char c) {
  return is_literal_char(c) || c == ' ' || c == ',' || c == ':' || c == '@' || c == '%' || c == '=';
}

static int template_is_plain(const run_inputs *in) {
  if (in->ntokens == 0 || in->tokens[0].kind != RUN_TEXT) return 0;
  for (size_t i = 0; i < in->ntokens; i++) {
    const run_token *t = &in->tokens[i];
    if (t->kind == RUN_TEXT) {
      for (const char *c = t->text; *c; c++)
        if (!is_plain_char(*c)) return 0;
    } else if (t->kind == RUN_ARG && t->source == 0 && in->nsources > 1) {
      /* {} of several sources is several words: only alone in its word. */
      int alone_before = i == 0 || (in->tokens[i - 1].kind == RUN_TEXT &&
                                    in->tokens[i - 1].text[strlen(in->tokens[i - 1].text) - 1] == ' ');
      int alone_after = i + 1 == in->ntokens ||
                        (in->tokens[i + 1].kind == RUN_TEXT && in->tokens[i + 1].text[0] == ' ');
      if (!alone_before || !alone_after) return 0;
    }
  }
  /* The program word: literal, no assignment, not the shell's own. */
  const char *w = in->tokens[0].text;
  while (*w == ' ') w++;
  size_t n = strcspn(w, " ");
  if (n == 0 || (w[n] == '\0' && in->ntokens > 1)) return 0; /* "{}" glued to it */
  if (memchr(w, '=', n) || is_shell_word(w, n)) return 0;
  return 1;
}

int run_inputs_finish(run_inputs *in, char **command, size_t ncommand) {
  in->group_of = calloc(in->nsources ? in->nsources : 1, sizeof *in->group_of);
  in->group_size = calloc(in->nsources ? in->nsources : 1, sizeof *in->group_size);
  if (!in->group_of || !in->group_size) goto nomem;
  for (size_t s = 0; s < in->nsources; s++) {
    if (!in->sources[s].linked) in->group_size[in->ngroups++] = in->sources[s].n;
    size_t g = in->ngroups - 1;
    in->group_of[s] = g;
    if (in->sources[s].n < in->group_size[g]) in->group_size[g] = in->sources[s].n;
  }
  in->total = in->ngroups ? 1 : 0;
  for (size_t g = 0; g < in->ngroups; g++) {
    if (in->group_size[g] && in->total > SIZE_MAX / in->group_size[g]) {
      fprintf(stderr, "parc run: too many combinations of inputs\n");
      return -1;
    }
    in->total *= in->group_size[g];
  }
  if (ncommand == 0) {
    in->no_command = 1;
    return 0;
  }
  run_str tpl = {0};
  for (size_t i = 0; i < ncommand; i++)
    if ((i && run_str_add(&tpl, " ", 1)) || run_str_add(&tpl, command[i], strlen(command[i]))) {
      free(tpl.p);
      goto nomem;
    }
  int rc = parse_template(in, tpl.p);
  free(tpl.p);
  if (rc) return -1;
  in->direct = template_is_plain(in);
  return 0;
nomem:
  fprintf(stderr, "parc run: out of memory\n");
  return -1;
}

void run_inputs_free(run_inputs *in) {
  for (size_t s = 0; s < in->nsources; s++) {
    for (size_t i = 0; i < in->sources[s].n; i++) free(in->sources[s].values[i]);
    free(in->sources[s].values);
  }
  for (size_t i = 0; i < in->ntokens; i++) free(in->tokens[i].text);
  free(in->sources);
  free(in->tokens);
  free(in->group_of);
  free(in->group_size);
  memset(in, 0, sizeof *in);
}

void run_inputs_values(const run_inputs *in, size_t seq, const char **values) {
  size_t k = seq - 1, index[in->ngroups ? in->ngroups : 1];
  for (size_t g = in->ngroups; g-- > 0;) {
    index[g] = k % in->group_size[g];
    k /= in->group_size[g];
  }
  for (size_t s = 0; s < in->nsources; s++) values[s] = in->sources[s].values[index[in->group_of[s]]];
}

/* ---- values through the replacement strings ------------------------------- */

/* GNU parallel's {.}: drop the last ".ext" of the last path component. */
static size_t noext_len(const char *v, size_t n) {
  for (size_t i = n; i-- > 0;) {
    if (v[i] == '/') break;
    if (v[i] == '.') return i;
  }
  return n;
}

/* Writes the transformed value into buf (at least strlen(v) + 2 bytes). */
static void transform(enum run_token_kind kind, const char *v, char *buf) {
  size_t n = strlen(v);
  const char *slash = strrchr(v, '/');
  switch (kind) {
  case RUN_NOEXT:
    n = noext_len(v, n);
    break;
  case RUN_BASE:
  case RUN_BASENOEXT:
    if (slash) {
      n -= (size_t)(slash + 1 - v);
      v = slash + 1;
    }
    if (kind == RUN_BASENOEXT) n = noext_len(v, n);
    break;
  case RUN_DIR: /* dirname(1) */
    while (n > 1 && v[n - 1] == '/') n--;
    while (n > 0 && v[n - 1] != '/') n--;
    while (n > 1 && v[n - 1] == '/') n--;
    if (n == 0) v = ".", n = 1;
    break;
  default:
    break;
  }
  memcpy(buf, v, n);
  buf[n] = '\0';
}

/* Appends the token's value(s); quote: shell-quote each; sep between several. */
static int add_value(run_str *s, const run_inputs *in, const run_token *t, const char **values,
                     size_t seq, int slot, int quote) {
  char num[32];
  if (t->kind == RUN_SEQ || t->kind == RUN_SLOT) {
    snprintf(num, sizeof num, "%zu", t->kind == RUN_SEQ ? seq : (size_t)slot);
    return run_str_add(s, num, strlen(num));
  }
  size_t first = t->source ? t->source - 1 : 0, last = t->source ? t->source : in->nsources;
  for (size_t i = first; i < last; i++) {
    char *buf = malloc(strlen(values[i]) + 2);
    if (!buf) return -1;
    transform(t->kind, values[i], buf);
    int rc = (i > first && run_str_add(s, " ", 1)) ||
             (quote ? run_str_quoted(s, buf) : run_str_add(s, buf, strlen(buf)));
    free(buf);
    if (rc) return -1;
  }
  return 0;
}

char *run_inputs_command(const run_inputs *in, const char **values, size_t seq, int slot) {
  run_str s = {0};
  int rc = run_str_add(&s, "", 0);
  if (in->no_command) {
    for (size_t i = 0; rc == 0 && i < in->nsources; i++)
      rc = (i && run_str_add(&s, " ", 1)) || run_str_add(&s, values[i], strlen(values[i]));
    if (rc == 0) return s.p;
    free(s.p);
    return NULL;
  }
  for (size_t i = 0; rc == 0 && i < in->ntokens; i++) {
    const run_token *t = &in->tokens[i];
    rc = t->kind == RUN_TEXT ? run_str_add(&s, t->text, strlen(t->text))
                             : add_value(&s, in, t, values, seq, slot, 1);
  }
  if (!in->has_replacement && in->nsources > 0) {
    run_token all = {RUN_ARG, 0, NULL};
    rc = rc || run_str_add(&s, " ", 1) || add_value(&s, in, &all, values, seq, slot, 1);
  }
  if (rc == 0) return s.p;
  free(s.p);
  return NULL;
}

/* ---- argv for a job without a shell ---------------------------------------- */

typedef struct argv_builder {
  char **argv;
  size_t n, cap;
  run_str word;
  int in_word;
} argv_builder;

static int end_word(argv_builder *b) {
  if (!b->in_word) return 0;
  if (b->n + 2 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    char **v = realloc(b->argv, cap * sizeof *v);
    if (!v) return -1;
    b->argv = v;
    b->cap = cap;
  }
  b->argv[b->n++] = b->word.p ? b->word.p : strdup("");
  b->argv[b->n] = NULL;
  b->word = (run_str){0};
  b->in_word = 0;
  return b->argv[b->n - 1] ? 0 : -1;
}

static int add_text_words(argv_builder *b, const char *text) {
  for (; *text; text++) {
    if (*text == ' ') {
      if (end_word(b)) return -1;
      continue;
    }
    b->in_word = 1;
    if (run_str_add(&b->word, text, 1)) return -1;
  }
  return 0;
}

static int add_value_words(argv_builder *b, const run_inputs *in, const run_token *t,
                           const char **values, size_t seq, int slot) {
  if (t->kind == RUN_ARG && t->source == 0 && in->nsources != 1) {
    for (size_t i = 0; i < in->nsources; i++) {
      b->in_word = 1;
      if (run_str_add(&b->word, values[i], strlen(values[i])) || end_word(b)) return -1;
    }
    return 0;
  }
  b->in_word = 1;
  return add_value(&b->word, in, t, values, seq, slot, 0);
}

/* echo is the shell's own; /bin/echo prints the same unless an argument is
   an option or holds a backslash (dash's echo reads escapes). */
static int echo_differs(char **argv) {
  if (strcmp(argv[0], "echo") != 0) return 0;
  for (char **a = argv + 1; *a; a++)
    if ((*a)[0] == '-' || strchr(*a, '\\')) return 1;
  return 0;
}

char **run_inputs_argv(const run_inputs *in, const char **values, size_t seq, int slot) {
  if (!in->direct) return NULL;
  argv_builder b = {0};
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < in->ntokens; i++) {
    const run_token *t = &in->tokens[i];
    rc = t->kind == RUN_TEXT ? add_text_words(&b, t->text)
                             : add_value_words(&b, in, t, values, seq, slot);
  }
  rc = rc || end_word(&b);
  if (!in->has_replacement) {
    run_token all = {RUN_ARG, 0, NULL};
    rc = rc || add_value_words(&b, in, &all, values, seq, slot) || end_word(&b);
  }
  if (rc == 0 && b.n > 0 && !echo_differs(b.argv)) return b.argv;
  free(b.word.p);
  run_argv_free(b.argv);
  return NULL;
}

void run_argv_free(char **argv) {
  if (!argv) return;
  for (char **a = argv; *a; a++) free(*a);
  free(argv);
}

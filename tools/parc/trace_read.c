/*
 * trace_read.c — reads a parc trace (Chrome trace event JSON) into memory.
 *
 * Why a parser of our own: the format is one small family (an object with
 * an event array and otherData; events are flat objects with one nested
 * args object), and the tool must not gain a dependency for it. The parser
 * is careful rather than general: bounds-checked everywhere, strict JSON
 * grammar, nesting limited (garbage like [[[[... cannot exhaust the stack),
 * unknown keys skipped whatever their order.
 *
 * A program killed during its pool leaves a file cut anywhere, often in
 * the middle of a line. Any prefix of valid JSON parses cleanly until the
 * input runs out, so "ran out of input" (PARSE_CUT) inside the event list
 * means "cut": the events before it are kept; a grammar error anywhere
 * (PARSE_BAD) means the file is not a trace.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

typedef enum parse_rc { PARSE_OK, PARSE_CUT, PARSE_BAD } parse_rc;

enum { MAX_DEPTH = 32 };

typedef struct cursor {
  const char *start, *p, *end;
  char *err;
  size_t err_size;
} cursor;

/* Records the first error only: the innermost call knows best what failed. */
static parse_rc bad(cursor *c, const char *what) {
  if (c->err[0]) return PARSE_BAD;
  int line = 1;
  for (const char *q = c->start; q < c->p; q++) line += *q == '\n';
  snprintf(c->err, c->err_size, "line %d: %s", line, what);
  return PARSE_BAD;
}

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

/* Skips whitespace, then consumes ch. */
static parse_rc expect(cursor *c, char ch, const char *what) {
  skip_ws(c);
  if (c->p == c->end) return PARSE_CUT;
  if (*c->p != ch) return bad(c, what);
  c->p++;
  return PARSE_OK;
}

enum { END = -1 };

/* The next non-blank character, or END at the end of the input (a NUL
   byte is a character: garbage, not the end). */
static int peek(cursor *c) {
  skip_ws(c);
  return c->p < c->end ? (unsigned char)*c->p : END;
}

/* ---- strings ------------------------------------------------------------- */

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char h = p[i];
    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
          : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *to, unsigned cp) {
  if (cp == 0) cp = '?';   /* a NUL would end the C string early */
  if (cp < 0x80) { to[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    to[0] = (char)(0xC0 | cp >> 6), to[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    to[0] = (char)(0xE0 | cp >> 12), to[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    to[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  to[0] = (char)(0xF0 | cp >> 18), to[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  to[2] = (char)(0x80 | (cp >> 6 & 0x3F)), to[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* \uXXXX after the backslash and 'u' (c->p at the first hex digit); a
   surrogate pair is joined, a lone surrogate becomes U+FFFD. */
static parse_rc unicode_escape(cursor *c, unsigned *cp) {
  if (c->end - c->p < 4) return PARSE_CUT;
  if (hex4(c->p, cp) != 0) return bad(c, "bad \\u escape in a string");
  c->p += 4;
  if (*cp < 0xD800 || *cp > 0xDBFF) {
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) *cp = 0xFFFD;
    return PARSE_OK;
  }
  unsigned low;
  if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || hex4(c->p + 2, &low) != 0 ||
      low < 0xDC00 || low > 0xDFFF) {
    *cp = 0xFFFD;
    return PARSE_OK;
  }
  c->p += 6;
  *cp = 0x10000 + ((*cp - 0xD800) << 10) + (low - 0xDC00);
  return PARSE_OK;
}

/* One escape after its backslash, written to *to (which advances). */
static parse_rc escape(cursor *c, char **to) {
  if (c->p == c->end) return PARSE_CUT;
  char e = *c->p++;
  const char *from = "\"\\/bfnrt", *into = "\"\\/\b\f\n\r\t";
  const char *hit = strchr(from, e);
  if (e && hit) {
    *(*to)++ = into[hit - from];
    return PARSE_OK;
  }
  if (e != 'u') return bad(c, "bad escape in a string");
  unsigned cp;
  parse_rc rc = unicode_escape(c, &cp);
  if (rc == PARSE_OK) *to += put_utf8(*to, cp);
  return rc;
}

/* A string (c->p at its opening quote) into a new buffer *out, or only
   skipped when out is NULL. The decoded text is never longer than the
   source, so one allocation of the source's length (up to the closing
   quote, found first) holds it. */
static parse_rc string(cursor *c, char **out) {
  if (out) *out = NULL;
  if (c->p == c->end) return PARSE_CUT;
  if (*c->p != '"') return bad(c, "expected a string");
  const char *q = ++c->p;
  while (q < c->end && *q != '"') {
    if (*q == '\\' && c->end - q < 2) return PARSE_CUT;
    q += *q == '\\' ? 2 : 1;
  }
  if (q >= c->end) return PARSE_CUT;
  char *buf = malloc((size_t)(q - c->p) + 1), *to = buf;
  if (!buf) return bad(c, "out of memory");
  parse_rc rc = PARSE_OK;
  while (rc == PARSE_OK && *c->p != '"') {
    unsigned char ch = (unsigned char)*c->p++;
    if (ch < 0x20) rc = bad(c, "control character in a string");
    else if (ch == '\\') rc = escape(c, &to);
    else *to++ = (char)ch;
  }
  if (rc != PARSE_OK) {
    free(buf);
    return rc;
  }
  c->p++;
  *to = 0;
  if (out) *out = buf;
  else free(buf);
  return PARSE_OK;
}

/* ---- numbers and literals ------------------------------------------------ */

static const char *digits(const char *p, const char *end) {
  while (p < end && *p >= '0' && *p <= '9') p++;
  return p;
}

/* A JSON number by its grammar (strtod alone would take "inf", hex, ...). */
static parse_rc number(cursor *c, double *out) {
  skip_ws(c);
  const char *p = c->p, *end = c->end;
  if (p < end && *p == '-') p++;
  const char *int_end = digits(p, end);
  if (int_end == end) return PARSE_CUT;
  if (int_end == p) return bad(c, "expected a number");
  if (*p == '0' && int_end - p > 1) return bad(c, "a number with a leading zero");
  p = int_end;
  if (*p == '.') {
    const char *frac = digits(p + 1, end);
    if (frac == end) return PARSE_CUT;
    if (frac == p + 1) return bad(c, "expected digits after '.'");
    p = frac;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    const char *exp = digits(p, end);
    if (exp == end) return PARSE_CUT;
    if (exp == p) return bad(c, "expected digits in an exponent");
    p = exp;
  }
  char buf[64];
  if (p - c->p >= (long)sizeof buf) return bad(c, "a number too long");
  memcpy(buf, c->p, (size_t)(p - c->p));
  buf[p - c->p] = 0;
  *out = strtod(buf, NULL);
  c->p = p;
  return PARSE_OK;
}

/* A number that must be a whole number a long long holds. */
static parse_rc integer(cursor *c, long long *out) {
  double v;
  parse_rc rc = number(c, &v);
  if (rc != PARSE_OK) return rc;
  if (v != floor(v) || fabs(v) > 9e15) return bad(c, "expected a whole number");
  *out = (long long)v;
  return PARSE_OK;
}

/* A time in microseconds: no trace runs for 30 years, so anything larger
   (or negative) is damage, not data. */
static parse_rc microseconds(cursor *c, double *out) {
  parse_rc rc = number(c, out);
  if (rc == PARSE_OK && (*out < 0 || *out > 1e15)) return bad(c, "a time out of range");
  return rc;
}

static parse_rc literal(cursor *c, const char *word) {
  size_t n = strlen(word), have = (size_t)(c->end - c->p);
  if (memcmp(c->p, word, have < n ? have : n) != 0) return bad(c, "expected a value");
  if (have < n) return PARSE_CUT;
  c->p += n;
  return PARSE_OK;
}

static parse_rc boolean(cursor *c, int *out) {
  int ch = peek(c);
  if (ch == END) return PARSE_CUT;
  if (ch != 't' && ch != 'f') return bad(c, "expected true or false");
  *out = ch == 't';
  return literal(c, ch == 't' ? "true" : "false");
}

/* ---- skipping what we do not read ---------------------------------------- */

static parse_rc value_skip(cursor *c, int depth);

/* The items of an array or the members of an object, up to close. */
static parse_rc container_skip(cursor *c, char close, int depth) {
  c->p++;
  if (peek(c) == close) {
    c->p++;
    return PARSE_OK;
  }
  for (;;) {
    parse_rc rc;
    if (close == '}') {
      skip_ws(c);
      if ((rc = string(c, NULL)) != PARSE_OK) return rc;
      if ((rc = expect(c, ':', "expected ':' after a key")) != PARSE_OK) return rc;
    }
    if ((rc = value_skip(c, depth + 1)) != PARSE_OK) return rc;
    int ch = peek(c);
    if (ch == END) return PARSE_CUT;
    c->p++;
    if (ch == close) return PARSE_OK;
    if (ch != ',') return bad(c, "expected ',' or the end of a list");
  }
}

static parse_rc value_skip(cursor *c, int depth) {
  if (depth > MAX_DEPTH) return bad(c, "values nested too deeply");
  int ch = peek(c);
  double ignored;
  switch (ch) {
    case END: return PARSE_CUT;
    case '"': return string(c, NULL);
    case '{': return container_skip(c, '}', depth);
    case '[': return container_skip(c, ']', depth);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default: return number(c, &ignored);
  }
}

/* ---- objects ------------------------------------------------------------- */

/* Calls member(c, key, obj) for each member of the object at c->p; member
   reads the value (or skips it). */
typedef parse_rc (*member_fn)(cursor *c, const char *key, void *obj);

static parse_rc object(cursor *c, member_fn member, void *obj) {
  parse_rc rc = expect(c, '{', "expected an object");
  if (rc != PARSE_OK) return rc;
  if (peek(c) == '}') {
    c->p++;
    return PARSE_OK;
  }
  for (;;) {
    char *key;
    skip_ws(c);
    if ((rc = string(c, &key)) != PARSE_OK) return rc;
    rc = expect(c, ':', "expected ':' after a key");
    if (rc == PARSE_OK) rc = member(c, key, obj);
    free(key);
    if (rc != PARSE_OK) return rc;
    int ch = peek(c);
    if (ch == END) return PARSE_CUT;
    c->p++;
    if (ch == '}') return PARSE_OK;
    if (ch != ',') return bad(c, "expected ',' or '}' in an object");
  }
}

/* A string member, replacing an earlier one of the same key. Control
   characters become blanks: names and messages go to terminals and into
   gnuplot scripts, one line each. */
static parse_rc string_member(cursor *c, char **field) {
  skip_ws(c);
  free(*field);
  parse_rc rc = string(c, field);
  for (char *q = rc == PARSE_OK ? *field : NULL; q && *q; q++)
    if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = ' ';
  return rc;
}

static parse_rc args_member(cursor *c, const char *key, void *obj) {
  trace_event *e = obj;
  if (!strcmp(key, "index")) return integer(c, &e->index);
  if (!strcmp(key, "chunk")) return integer(c, &e->chunk);
  if (!strcmp(key, "try")) return integer(c, &e->try_no);
  if (!strcmp(key, "group")) return integer(c, &e->group);
  if (!strcmp(key, "queued")) return integer(c, &e->queued);
  if (!strcmp(key, "running")) return integer(c, &e->running);
  if (!strcmp(key, "done")) return integer(c, &e->done);
  if (!strcmp(key, "cached")) return boolean(c, &e->cached);
  if (!strcmp(key, "status")) return string_member(c, &e->status);
  if (!strcmp(key, "message")) return string_member(c, &e->message);
  if (!strcmp(key, "name")) return string_member(c, &e->label);
  return value_skip(c, 2);
}

static parse_rc event_member(cursor *c, const char *key, void *obj) {
  trace_event *e = obj;
  if (!strcmp(key, "ph")) {
    char *ph;
    skip_ws(c);
    parse_rc rc = string(c, &ph);
    if (rc == PARSE_OK) e->ph = ph[0] && !ph[1] ? ph[0] : '?';
    free(ph);
    return rc;
  }
  if (!strcmp(key, "pid")) return integer(c, &e->pid);
  if (!strcmp(key, "tid")) return integer(c, &e->tid);
  if (!strcmp(key, "ts")) return microseconds(c, &e->ts);
  if (!strcmp(key, "dur")) return microseconds(c, &e->dur);
  if (!strcmp(key, "name")) return string_member(c, &e->name);
  if (!strcmp(key, "cat")) return string_member(c, &e->cat);
  if (!strcmp(key, "args")) return object(c, args_member, e);
  return value_skip(c, 1);
}

static void event_free(trace_event *e) {
  free(e->name), free(e->cat), free(e->status), free(e->message), free(e->label);
}

static int push(trace *t, const trace_event *e) {
  if (t->count == t->capacity) {
    size_t capacity = t->capacity ? 2 * t->capacity : 256;
    trace_event *grown = realloc(t->events, capacity * sizeof *grown);
    if (!grown) return -1;
    t->events = grown, t->capacity = capacity;
  }
  t->events[t->count++] = *e;
  return 0;
}

static parse_rc event(cursor *c, trace *t) {
  trace_event e = {.ph = 0, .pid = -1, .tid = -1, .index = -1, .chunk = -1, .try_no = -1,
                   .group = -1, .queued = -1, .running = -1, .done = -1};
  parse_rc rc = object(c, event_member, &e);
  if (e.ph == 'X' && e.try_no < 0) e.try_no = 1;   /* the writer leaves try 1 out */
  if (rc == PARSE_OK && push(t, &e) != 0) rc = bad(c, "out of memory");
  if (rc != PARSE_OK) event_free(&e);
  return rc;
}

static parse_rc events(cursor *c, trace *t) {
  parse_rc rc = expect(c, '[', "traceEvents is not a list");
  if (rc != PARSE_OK) return rc;
  if (peek(c) == ']') {
    c->p++;
    return PARSE_OK;
  }
  for (;;) {
    if ((rc = event(c, t)) != PARSE_OK) return rc;
    int ch = peek(c);
    if (ch == END) return PARSE_CUT;
    c->p++;
    if (ch == ']') return PARSE_OK;
    if (ch != ',') return bad(c, "expected ',' or ']' after an event");
  }
}

static parse_rc other_member(cursor *c, const char *key, void *obj) {
  trace *t = obj;
  if (!strcmp(key, "complete")) return boolean(c, &t->complete);
  if (!strcmp(key, "parc_version")) return string_member(c, &t->version);
  return value_skip(c, 2);
}

/* The top level: events_seen tells a cut inside the event list (kept)
   from a cut before it (not a trace). */
typedef struct top {
  trace *t;
  int events_seen;
} top;

static parse_rc top_member(cursor *c, const char *key, void *obj) {
  top *d = obj;
  if (!strcmp(key, "traceEvents")) {
    d->events_seen = 1;
    return events(c, d->t);
  }
  if (!strcmp(key, "otherData")) return object(c, other_member, d->t);
  return value_skip(c, 1);
}

/* ---- the file ------------------------------------------------------------ */

int trace_parse(trace *t, const char *text, size_t len, char *err, size_t err_size) {
  memset(t, 0, sizeof *t);
  err[0] = 0;
  cursor c = {text, text, text + len, err, err_size};
  top d = {t, 0};
  if (peek(&c) != '{') {
    snprintf(err, err_size, "%s",
             len ? "not a trace (it does not start with '{')" : "empty file, not a trace");
    return -1;
  }
  parse_rc rc = object(&c, top_member, &d);
  if (rc == PARSE_OK && peek(&c) != END) rc = bad(&c, "text after the trace's end");
  if (rc != PARSE_BAD && !d.events_seen) {
    snprintf(err, err_size, "not a trace (%s)",
             rc == PARSE_OK ? "no traceEvents" : "it ends before traceEvents");
    rc = PARSE_BAD;
  }
  if (rc == PARSE_BAD) {
    trace_free(t);
    return -1;
  }
  t->closed = rc == PARSE_OK;
  if (!t->closed) t->complete = 0;
  return 0;
}

static char *slurp(const char *path, size_t *len, char *err, size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_size, "%s", strerror(errno));
    return NULL;
  }
  size_t size = 0, capacity = 1 << 16;
  char *buf = malloc(capacity);
  while (buf) {
    size += fread(buf + size, 1, capacity - size, f);
    if (size < capacity) break;
    char *grown = capacity < ((size_t)1 << 40) ? realloc(buf, capacity *= 2) : NULL;
    if (!grown) free(buf);
    buf = grown;
  }
  int failed = !buf || ferror(f);
  if (failed) snprintf(err, err_size, "%s", buf ? strerror(errno) : "out of memory");
  fclose(f);
  if (failed) {
    free(buf);
    return NULL;
  }
  *len = size;
  return buf;
}

int trace_read(trace *t, const char *path, char *err, size_t err_size) {
  memset(t, 0, sizeof *t);
  size_t len;
  char *text = slurp(path, &len, err, err_size);
  if (!text) return -1;
  int rc = trace_parse(t, text, len, err, err_size);
  free(text);
  return rc;
}

void trace_free(trace *t) {
  for (size_t i = 0; i < t->count; i++) event_free(&t->events[i]);
  free(t->events);
  free(t->version);
  memset(t, 0, sizeof *t);
}

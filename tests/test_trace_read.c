/*
 * test_trace_read.c — the trace reader of `parc trace` (tools/parc/
 * trace_read.c) on its own: every prefix of a trace reads as a cut trace
 * with the events of its whole lines, garbled traces never crash it (the
 * summary then runs on whatever it accepted), and its grammar, escapes and
 * error lines. TRACE_SAMPLES is tests/trace.
 */
#include "harness.h"
#include "trace.h"

static char *sample(const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", TRACE_SAMPLES, name);
  FILE *f = fopen(path, "rb");
  if (!f) FAIL_AT("cannot open %s", path);
  static char buf[1 << 16];
  *len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  char *copy = malloc(*len + 1);
  CHECK(copy != NULL);
  memcpy(copy, buf, *len);
  return copy;
}

static size_t whole_event_lines(const char *text, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i + 1 < len; i++)   /* an event line begins "{" or ",{" and ends "}\n" */
    n += text[i] == '}' && text[i + 1] == '\n';
  return n;
}

/* Every prefix: no trace before the event list opened, a cut one after,
   with as many events as whole lines; the whole file is complete. */
static void every_prefix(const char *name) {
  size_t len;
  char *text = sample(name, &len), err[256];
  const size_t header = strlen("{\"traceEvents\":");   /* from here on: a cut trace */
  FILE *devnull = fopen("/dev/null", "w");
  size_t last_count = 0;
  for (size_t cut = 0; cut <= len; cut++) {
    trace t;
    int rc = trace_parse(&t, text, cut, err, sizeof err);
    if (cut < header) {
      if (rc != -1) FAIL_AT("%s cut at %zu: read as a trace", name, cut);
      continue;
    }
    if (rc != 0) FAIL_AT("%s cut at %zu: %s", name, cut, err);
    int whole = cut >= len - 1;   /* the final newline may be missing */
    if (t.closed != whole) FAIL_AT("%s cut at %zu: closed %d", name, cut, t.closed);
    if (t.count < last_count)
      FAIL_AT("%s cut at %zu: %zu events, before %zu", name, cut, t.count, last_count);
    if (text[cut - 1] == '\n' && !whole && t.count != whole_event_lines(text, cut))
      FAIL_AT("%s cut at %zu: %zu events, %zu whole lines", name, cut, t.count,
              whole_event_lines(text, cut));
    last_count = t.count;
    CHECK_INT(0, trace_summary_print(&t, name, devnull));
    trace_free(&t);
  }
  fclose(devnull);
  free(text);
}

TEST(every_prefix_of_complete) { every_prefix("complete.json"); }
TEST(every_prefix_of_faults) { every_prefix("faults.json"); }

/* A deterministic stream of damage: bytes flipped, JSON's own characters
   inserted, spans deleted or repeated. */
static unsigned long long lcg = 88172645463325252ull;
static size_t rnd(size_t n) {
  lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
  return n ? (size_t)(lcg >> 33) % n : 0;
}

static size_t garble(char *buf, size_t len, size_t cap) {
  static const char json[] = "{}[]\",:\\0123456789eE.-+tfnu \n\x80\xff";
  for (int edits = 1 + (int)rnd(4); edits > 0 && len > 1; edits--) {
    size_t at = rnd(len), span = 1 + rnd(len - at < 40 ? len - at : 40);
    switch (rnd(4)) {
      case 0: buf[at] = (char)(buf[at] ^ (1 << rnd(8))); break;
      case 1:
        if (len == cap) break;
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = json[rnd(sizeof json - 1)];
        len++;
        break;
      case 2: memmove(buf + at, buf + at + span, len - at - span); len -= span; break;
      default:   /* the span at `at` twice */
        if (len + span > cap) break;
        memmove(buf + at + span, buf + at, len - at);
        len += span;
        break;
    }
  }
  return len;
}

TEST(garbled_traces_never_crash) {
  const char *names[] = {"complete.json", "faults.json", "reordered.json"};
  FILE *devnull = fopen("/dev/null", "w");
  size_t accepted = 0, rejected = 0;
  for (int round = 0; round < 6000; round++) {
    size_t len, cap = 1 << 15;
    char *text = sample(names[round % 3], &len), err[256];
    char *buf = malloc(cap);
    memcpy(buf, text, len);
    len = garble(buf, len, cap);
    trace t;
    if (trace_parse(&t, buf, len, err, sizeof err) == 0) {
      accepted++;
      CHECK_INT(0, trace_summary_print(&t, "garbled", devnull));
    } else {
      rejected++;
      CHECK(err[0] != 0);
      CHECK(t.count == 0 && t.events == NULL);
    }
    trace_free(&t);
    free(buf);
    free(text);
  }
  fclose(devnull);
  /* Both outcomes occur, or the damage is not reaching the parser. */
  CHECK(accepted > 100 && rejected > 100);
}

static int parse(trace *t, const char *text, char *err) {
  return trace_parse(t, text, strlen(text), err, 256);
}

TEST(escapes_and_blanks) {
  trace t;
  char err[256];
  CHECK_INT(0, parse(&t, "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"caf\\u00e9 \\ud83d\\ude00 "
                         "\\\"q\\\" \\ud800x\",\"args\":{\"message\":\"a\\nb\\tc\"}}]}", err));
  CHECK_SIZE(1, t.count);
  CHECK_STR("caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \xef\xbf\xbdx", t.events[0].name);
  CHECK_STR("a b c", t.events[0].message);   /* control characters become blanks */
  CHECK_INT('X', t.events[0].ph);
  CHECK_INT(-1, t.events[0].index);          /* absent numbers are -1, */
  CHECK_INT(1, t.events[0].try_no);          /* but a try is try 1 */
  CHECK_INT(1, t.closed);                    /* no otherData: closed, yet ... */
  CHECK_INT(0, t.complete);                  /* ... not marked complete */
  trace_free(&t);
}

TEST(closed_and_complete) {
  trace t;
  char err[256];
  CHECK_INT(0, parse(&t, "{\"traceEvents\":[],\"otherData\":{\"complete\":true}}\n", err));
  CHECK(t.closed && t.complete);
  trace_free(&t);
  CHECK_INT(0, parse(&t, "{\"traceEvents\":[],\"otherData\":{\"complete\":false}}", err));
  CHECK(t.closed && !t.complete);
  trace_free(&t);
  CHECK_INT(0, parse(&t, "{\"otherData\":{\"complete\":true},\"traceEvents\":[{}", err));
  CHECK(!t.closed && !t.complete);   /* a cut file is never complete */
  trace_free(&t);
}

/* Each bad document is refused with a message naming its line. */
TEST(grammar_errors_name_their_line) {
  const char *bad[][2] = {
      {"{\"traceEvents\":[\n{\"ts\":01}]}", "line 2: a number with a leading zero"},
      {"{\"traceEvents\":[\n{\"ts\":1.}]}", "line 2: expected digits after '.'"},
      {"{\"traceEvents\":[\n{\"ts\":inf}]}", "line 2: expected a number"},
      {"{\"traceEvents\":[\n{\"ts\":-1}]}", "line 2: a time out of range"},
      {"{\"traceEvents\":[\n{\"ts\":1e300}]}", "line 2: a time out of range"},
      {"{\"traceEvents\":[\n{\"ts\":\"x\"}]}", "line 2: expected a number"},
      {"{\"traceEvents\":[\n{\"pid\":1.5}]}", "line 2: expected a whole number"},
      {"{\"traceEvents\":[\n{\"args\":{\"cached\":1}}]}", "line 2: expected true or false"},
      {"{\"traceEvents\":[\n{\"name\":\"a\x01\"}]}", "line 2: control character in a string"},
      {"{\"traceEvents\":[\n{\"name\":\"\\x\"}]}", "line 2: bad escape in a string"},
      {"{\"traceEvents\":[\n{\"a\" 1}]}", "line 2: expected ':' after a key"},
      {"{\"traceEvents\":[\n1]}", "line 2: expected an object"},
      {"{\"traceEvents\":{}}", "line 1: traceEvents is not a list"},
      {"{\"traceEvents\":[]} x", "line 1: text after the trace's end"},
      {"{\"traceEvents\":[{}\n{}]}", "line 2: expected ',' or ']' after an event"},
      {"{\"traceEvents\":[{\"x\":nul}]}", "line 1: expected a value"},
      {"{\"traceEvents\":[{}]\0}", "expected ',' or '}'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    trace t;
    char err[256];
    size_t len = strlen(bad[i][0]) + (i == sizeof bad / sizeof bad[0] - 1 ? 2 : 0);
    if (trace_parse(&t, bad[i][0], len, err, sizeof err) != -1)
      FAIL_AT("accepted %s", bad[i][0]);
    if (!strstr(err, bad[i][1]))
      FAIL_AT("%s: expected \"%s\", got \"%s\"", bad[i][0], bad[i][1], err);
  }
}

int main(int argc, char **argv) { return harness_main(argc, argv); }

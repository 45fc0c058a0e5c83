/*
 * error.c — status names, the thread-local error detail, and clocks.
 *
 * Every failing public call leaves a sentence in a thread-local buffer, so
 * that two threads failing at once never read each other's message.
 */
#include "parc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Thread_local char last_message[PARC__MESSAGE_MAX];

#define STRERROR_CASE(name, value, text) \
  case name: return #name ": " text;
#define NAME_CASE(name, value, text) \
  case name: return #name;

const char *parc_strerror(int status) {
  switch (status) {
    PARC_STATUS_MAP(STRERROR_CASE)
    default: return "unknown parc status";
  }
}

const char *parc_status_name(int status) {
  switch (status) {
    PARC_STATUS_MAP(NAME_CASE)
    default: return "PARC_UNKNOWN";
  }
}

const char *parc_errmsg(void) { return last_message; }

int parc__error(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_message, sizeof last_message, fmt, ap);
  va_end(ap);
  return status;
}

/* The message is cut at PARC__MESSAGE_MAX bytes: a long path in `what`
   is shortened (its end replaced by "..."), never errno's text. */
int parc__error_errno(const char *what) {
  int saved = errno;
  const char *text = strerror(saved);
  size_t room = sizeof last_message - strlen(text) - 3;   /* ": " and the NUL */
  if (strlen(what) <= room) return parc__error(PARC_ESYS, "%s: %s", what, text);
  return parc__error(PARC_ESYS, "%.*s...: %s", (int)(room - 3), what, text);
}

char *parc__vformat(const char *fmt, va_list ap) {
  char buffer[PARC__MESSAGE_MAX];
  vsnprintf(buffer, sizeof buffer, fmt, ap);
  return parc__strdup(buffer);
}

char *parc__format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = parc__vformat(fmt, ap);
  va_end(ap);
  return s;
}

uint64_t parc__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double parc__now(void) { return (double)parc__now_ns() * 1e-9; }

struct timespec parc__time_after(clockid_t clock, double seconds) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  long long ns = ts.tv_nsec + (long long)(seconds * 1e9);
  ts.tv_sec += (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

/* protoclient: a raw-protocol rank for the integration tests.
 *
 *   protoclient SCENARIO
 *
 * Reads SCENARIO, keeps the lines for this rank (STDMPI_RANK) and runs them in
 * order. Each line is "RANKS ACTION", RANKS being "*", "0", "0,2" or "1-3":
 *
 *   RANKS @mpi ... [=> EXPECTED | =~ REGEX]   send a request, check the reply
 *   RANKS print TEXT                          print TEXT as ordinary output
 *   RANKS eprint TEXT                         print TEXT on stderr
 *   RANKS raw TEXT                            write TEXT with no newline added
 *   RANKS sleep SECONDS
 *   RANKS exit CODE                           exit at once with CODE
 *   RANKS kill SIGNAL                         raise SIGNAL
 *
 * In requests and expectations, \xNN, \t, \r, \n and \\ are escapes, and a
 * trailing {rand:N:SEED} or {bytes:TEXT} stands for a byte payload: in a
 * request it becomes N followed by the bytes after the line (sendb, bcastb), in
 * an expectation the reply must be "N\n" and exactly those bytes. An
 * expectation "HEADER {bytes:TEXT}" wants the header line HEADER instead of N
 * (gatherb's "N0 N1 ..."). In a request, {rawbytes:TEXT} and
 * {rawrand:N:SEED} write the bytes after the line without adding N
 * (alltoallb names its counts itself). {rank}
 * is replaced by this rank's number everywhere, {env:NAME} by that variable.
 *
 * Any difference is reported on stderr with the line number, and the client
 * exits 1, which ends the job.
 */
#define _GNU_SOURCE
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_rank;
static int g_lineno;

static void die(const char* fmt, const char* a, const char* b) {
  fprintf(stderr, "protoclient: rank %d line %d: ", g_rank, g_lineno);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  exit(1);
}

static int rank_matches(const char* spec) {
  if (strcmp(spec, "*") == 0) return 1;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char* tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char* dash = strchr(tok, '-');
    if (dash) {
      *dash = 0;
      if (g_rank >= atoi(tok) && g_rank <= atoi(dash + 1)) return 1;
    } else if (atoi(tok) == g_rank) {
      return 1;
    }
  }
  return 0;
}

/* Deterministic bytes (all 256 values, NUL and LF included). */
static void fill_rand(unsigned char* p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (unsigned char)(x >> 24);
  }
}

/* Unescapes in place; returns the new length. */
static size_t unescape(char* s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == '\\' && i + 1 < n) {
      char c = s[++i];
      if (c == 'x' && i + 2 < n + 1) {
        char hex[3] = {s[i + 1], s[i + 2], 0};
        s[o++] = (char)strtol(hex, NULL, 16);
        i += 2;
      } else if (c == 't') {
        s[o++] = '\t';
      } else if (c == 'r') {
        s[o++] = '\r';
      } else if (c == 'n') {
        s[o++] = '\n';
      } else {
        s[o++] = c;
      }
    } else {
      s[o++] = s[i];
    }
  }
  return o;
}

/* Set by take_payload: the payload was {rawbytes:...} (no N added). */
static int g_raw_payload;

/* A trailing {rand:N:SEED}, {bytes:TEXT} or {rawbytes:TEXT} in s: cut it off
 * and return the payload (caller frees), or NULL if there is none. */
static unsigned char* take_payload(char* s, size_t* n) {
  g_raw_payload = 0;
  size_t len = strlen(s);
  if (len < 2 || s[len - 1] != '}') return NULL;
  char* open = strrchr(s, '{');
  if (!open) return NULL;
  unsigned char* p = NULL;
  if (strncmp(open, "{rand:", 6) == 0 || strncmp(open, "{rawrand:", 9) == 0) {
    unsigned long long size = 0, seed = 0;
    g_raw_payload = open[1] == 'r' && open[2] == 'a' && open[3] == 'w';
    if (sscanf(open + (g_raw_payload ? 9 : 6), "%llu:%llu}", &size, &seed) != 2) {
      die("bad %s%s", open, "");
    }
    p = malloc(size + 1);
    fill_rand(p, size, seed);
    *n = size;
  } else if (strncmp(open, "{bytes:", 7) == 0 || strncmp(open, "{rawbytes:", 10) == 0) {
    size_t skip = open[1] == 'r' ? 10 : 7;
    size_t blen = len - (size_t)(open - s) - skip - 1;
    p = malloc(blen + 1);
    memcpy(p, open + skip, blen);
    *n = unescape((char*)p, blen);
    g_raw_payload = open[1] == 'r';
  } else {
    return NULL;
  }
  *open = 0;
  return p;
}

/* Reads stdin through a buffer of our own: lines, then exact byte counts. */
static char* g_buf;
static size_t g_len, g_cap;

static void fill(size_t want) {
  while (g_len < want) {
    if (g_cap < want + 65536) {
      g_cap = (want + 65536) * 2;
      g_buf = realloc(g_buf, g_cap);
    }
    ssize_t r = read(0, g_buf + g_len, g_cap - g_len);
    if (r <= 0) die("stdin closed while waiting for a reply%s%s", "", "");
    g_len += (size_t)r;
  }
}

static char* read_line(size_t* n) {
  size_t scanned = 0;
  if (g_len == 0) fill(1);
  for (;;) {
    char* nl = memchr(g_buf + scanned, '\n', g_len - scanned);
    if (nl) {
      *n = (size_t)(nl - g_buf);
      char* line = malloc(*n + 1);
      memcpy(line, g_buf, *n);
      line[*n] = 0;
      memmove(g_buf, nl + 1, g_len - *n - 1);
      g_len -= *n + 1;
      return line;
    }
    scanned = g_len;
    fill(g_len + 1);
  }
}

static unsigned char* read_exact(size_t n) {
  fill(n);
  unsigned char* p = malloc(n + 1);
  memcpy(p, g_buf, n);
  memmove(g_buf, g_buf + n, g_len - n);
  g_len -= n;
  return p;
}

static void write_all(const void* p, size_t n) {
  const char* c = p;
  while (n > 0) {
    ssize_t w = write(1, c, n);
    if (w <= 0) die("write failed%s%s", "", "");
    c += w;
    n -= (size_t)w;
  }
}

/* Replaces {rank} and {env:NAME} in s (a malloc'd string); returns the result. */
static char* subst(char* s) {
  char rank[16];
  snprintf(rank, sizeof rank, "%d", g_rank);
  char* at;
  while ((at = strstr(s, "{rank}")) != NULL || (at = strstr(s, "{env:")) != NULL) {
    size_t head = (size_t)(at - s);
    const char* value = rank;
    size_t cut = 6;
    if (at[1] == 'e') {
      char* close = strchr(at, '}');
      if (!close) die("unclosed {env:%s%s", at, "");
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(close - at - 5), at + 5);
      value = getenv(name) ? getenv(name) : "";
      cut = (size_t)(close - at) + 1;
    }
    char* out = malloc(strlen(s) + strlen(value) + 1);
    memcpy(out, s, head);
    strcpy(out + head, value);
    strcat(out, at + cut);
    free(s);
    s = out;
  }
  return s;
}

static void do_request(char* req, char* expect, int is_regex) {
  size_t plen = 0;
  unsigned char* payload = take_payload(req, &plen);
  int raw = g_raw_payload;
  size_t rlen = unescape(req, strlen(req));
  char* line = malloc(rlen + 32);
  memcpy(line, req, rlen);
  if (payload && raw) {
    while (rlen > 0 && line[rlen - 1] == ' ') --rlen; /* "... 3 5 {rawbytes:...}" */
  } else if (payload) {
    rlen += (size_t)sprintf(line + rlen, "%zu", plen);
  }
  line[rlen++] = '\n';
  write_all(line, rlen);
  if (payload) write_all(payload, plen);
  free(line);
  free(payload);

  size_t elen = 0;
  unsigned char* eload = expect && !is_regex ? take_payload(expect, &elen) : NULL;
  size_t n;
  char* reply = read_line(&n);
  if (eload) {
    char want[32];
    snprintf(want, sizeof want, "%zu", elen);
    /* "HEADER {bytes:...}": the header is given (gatherb's sizes). */
    size_t hl = strlen(expect);
    while (hl > 0 && expect[hl - 1] == ' ') expect[--hl] = 0;
    const char* header = hl > 0 ? expect : want;
    if (strcmp(reply, header) != 0) die("byte reply header: expected %s, got %s", header, reply);
    unsigned char* got = read_exact(elen);
    if (memcmp(got, eload, elen) != 0) die("byte reply differs from %s%s", expect, "");
    free(got);
    free(eload);
  } else if (expect && is_regex) {
    regex_t re;
    if (regcomp(&re, expect, REG_EXTENDED | REG_NOSUB) != 0) die("bad regex %s%s", expect, "");
    if (regexec(&re, reply, 0, NULL, 0) != 0) die("expected /%s/, got \"%s\"", expect, reply);
    regfree(&re);
  } else if (expect) {
    size_t el = unescape(expect, strlen(expect));
    if (el != n || memcmp(expect, reply, n) != 0) {
      expect[el] = 0;
      die("expected \"%s\", got \"%s\"", expect, reply);
    }
  }
  free(reply);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: protoclient SCENARIO\n");
    return 2;
  }
  const char* r = getenv("STDMPI_RANK");
  g_rank = r ? atoi(r) : 0;
  FILE* f = fopen(argv[1], "r");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  char* raw = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&raw, &cap, f)) >= 0) {
    ++g_lineno;
    if (len > 0 && raw[len - 1] == '\n') raw[--len] = 0;
    char* s = subst(strdup(raw));
    char* p = s;
    if (*p == '#' || *p == 0) {
      free(s);
      continue;
    }
    char* sp = strchr(p, ' ');
    if (!sp) die("no action in \"%s\"%s", raw, "");
    *sp = 0;
    char* action = sp + 1;
    if (!rank_matches(p)) {
      free(s);
      continue;
    }
    if (strncmp(action, "@mpi", 4) == 0) {
      char* expect = NULL;
      int is_regex = 0;
      char* arrow = strstr(action, " => ");
      char* tilde = strstr(action, " =~ ");
      if (tilde && (!arrow || tilde < arrow)) {
        arrow = tilde;
        is_regex = 1;
      }
      if (arrow) {
        *arrow = 0;
        expect = arrow + 4;
      }
      do_request(action, expect, is_regex);
    } else if (strncmp(action, "print ", 6) == 0) {
      size_t n = unescape(action + 6, strlen(action + 6));
      action[6 + n] = '\n';
      write_all(action + 6, n + 1);
    } else if (strncmp(action, "eprint ", 7) == 0) {
      fprintf(stderr, "%s\n", action + 7);
    } else if (strncmp(action, "raw ", 4) == 0) {
      size_t n = unescape(action + 4, strlen(action + 4));
      write_all(action + 4, n);
    } else if (strncmp(action, "sleep ", 6) == 0) {
      double secs = atof(action + 6);
      struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
      nanosleep(&ts, NULL);
    } else if (strncmp(action, "exit ", 5) == 0) {
      exit(atoi(action + 5));
    } else if (strncmp(action, "kill ", 5) == 0) {
      raise(atoi(action + 5));
    } else {
      die("unknown action \"%s\"%s", action, "");
    }
    free(s);
  }
  free(raw);
  fclose(f);
  return 0;
}

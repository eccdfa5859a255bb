// A reader for one JSON object on one line: the shapes the shims write into
// their trace parts (libshim/trace.h, libshim/rank_summary.h), read back by
// stdmpirun after the job (job_profile.h).
//
// Not a general JSON library: it walks the object once, allocating nothing
// but the dotted path, and hands each scalar member to the caller as its raw
// text, so a part of millions of events is read at the speed of the disk.
// A part lies in a directory a program may write: any bytes must be refused
// cleanly (fuzz/fuzz_profile.cc), nesting is bounded.
//
// Pure logic.
#ifndef STDMPI_LAUNCHER_JSON_LINE_H_
#define STDMPI_LAUNCHER_JSON_LINE_H_

#include <functional>
#include <string>
#include <string_view>

namespace stdmpi {

// Deepest nesting of objects and arrays VisitJsonObject accepts.
inline constexpr int kMaxJsonDepth = 8;

// Calls `visit(path, raw)` for every member of the JSON object `line` whose
// value is a string, number, true, false or null, in order; members of nested
// objects get dotted paths ("args.verbs.recv.n"; keys as written, escapes
// and all). `raw` is the value's text: a string with its quotes and escapes.
// Arrays are checked and skipped. Returns false if `line` (blanks around it
// allowed) is not exactly one well-formed object; `visit` may have been
// called for the members before the fault.
bool VisitJsonObject(std::string_view line,
                     const std::function<void(std::string_view path, std::string_view raw)>& visit);

// The text of a JSON string token (its quotes dropped, escapes decoded;
// \uXXXX as UTF-8), or "" if `raw` is not a string token.
std::string JsonText(std::string_view raw);

// A number token as a double; `fallback` if `raw` is not a number.
double JsonNumber(std::string_view raw, double fallback = 0);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_JSON_LINE_H_

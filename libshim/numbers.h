// Number parsing and formatting for the line protocol.
//
// docs/protocol.md ("What a request looks like"): numbers are read as C's
// strtod reads them, and f64 replies use the shortest form that reads back to
// the same double. Both directions are hot paths (an allreduce of 1e6 doubles
// parses and prints 1e6 numbers), so the common decimal case goes through
// std::from_chars/std::to_chars and only the rare forms from_chars does not
// take (a leading '+', hex floats, leading blanks) fall back to strtod/strtoll,
// which define the accepted language.
#ifndef STDMPI_LIBSHIM_NUMBERS_H_
#define STDMPI_LIBSHIM_NUMBERS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

// Parses one token as strtod would, requiring the whole token to be consumed.
// Out-of-range values become what strtod returns (inf or a denormal/zero).
// Returns false if the token is empty or not entirely a number.
bool ParseF64(std::string_view token, double* out);

enum class IntParse { kOk, kNotInteger, kOutOfRange };

// Parses one token as strtoll(base 10) would, whole token required.
IntParse ParseI64(std::string_view token, int64_t* out);

// Parses a non-negative decimal integer made of digits only (no sign, no blanks),
// as used for ranks, tags and byte counts. Returns false on anything else or if
// the value exceeds `max`.
bool ParseCount(std::string_view token, int64_t max, int64_t* out);

// Appends the shortest decimal form that reads back (strtod) to exactly `v`:
// 0.1 -> "0.1", 3.0 -> "3", 1e21 -> "1e+21", inf -> "inf", NaN -> "nan".
void AppendF64(std::string* out, double v);
void AppendI64(std::string* out, int64_t v);

// Appends numbers separated by one space.
void AppendF64List(std::string* out, const double* v, size_t n);
void AppendI64List(std::string* out, const int64_t* v, size_t n);

// Splits a space-separated list of numbers (runs of spaces tolerated) and parses
// each. On failure returns false and sets *err to a reason that quotes the token.
bool ParseF64List(std::string_view text, std::vector<double>* out, std::string* err);
bool ParseI64List(std::string_view text, std::vector<int64_t>* out, std::string* err);

// Quotes `s` for an error message: printable ASCII as is, other bytes as \xNN,
// cut to `max` bytes with "..." appended.
std::string QuoteForMessage(std::string_view s, size_t max = 120);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_NUMBERS_H_

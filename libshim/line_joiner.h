// Whole lines out of a byte stream, for merging the ranks' output (and, in
// the shim, a program's stderr into its stdout: --merge-stderr-to-stdout).
//
// mpirun forwards each rank's output in reads of at most 4095 bytes and writes
// them out as they come, so lines of different ranks end up cut into each
// other under heavy output. stdmpirun instead takes the output of the ranks on
// its own machine over a socket each (output_merger.h) and writes only whole
// lines: a LineJoiner per stream holds a line's start until its end arrives.
#ifndef STDMPI_LIBSHIM_LINE_JOINER_H_
#define STDMPI_LIBSHIM_LINE_JOINER_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace stdmpi {

class LineJoiner {
 public:
  // A line longer than `max_pending` bytes goes out in pieces of that size
  // (memory stays bounded; only such a line can be cut by another's).
  explicit LineJoiner(size_t max_pending) : max_pending_(max_pending) {}

  // Appends what can be written now to *out: every complete line of what came
  // so far, a line's start up to its last CR (a progress bar redrawing its
  // line: it shows at once), and the held part of an overlong line.
  void Feed(std::string_view data, std::string* out);
  // At the end of the stream: what is held (a last line without newline).
  void Finish(std::string* out);
  size_t pending() const { return pending_.size(); }

 private:
  size_t max_pending_;
  std::string pending_;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_LINE_JOINER_H_

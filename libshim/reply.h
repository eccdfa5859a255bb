// The replies a rank's program reads on its stdin (docs/protocol.md, "The verbs"),
// worded in one place: `ok`, numbers, `SRC TAG BYTES` status lines, text, byte
// headers, msgpack values and `@error REASON`.
//
// Pure logic: the MPI side fills buffers and asks for the reply here, so every
// reply's bytes are unit-tested without MPI.
#ifndef STDMPI_LIBSHIM_REPLY_H_
#define STDMPI_LIBSHIM_REPLY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "request.h"

namespace stdmpi {

// "ok" LF: a request that completed with nothing to say.
std::string OkReply();
// "none" LF: an iprobe that found no message.
std::string NoneReply();
// One number and LF (rank, size, wtime).
std::string IntReply(int64_t v);
std::string F64Reply(double v);
// "SRC TAG BYTES" LF: a probe's match, or the status of the last receive.
std::string StatusReply(int source, int tag, int64_t bytes);
// "@error REASON" LF (errors-return mode).
std::string ErrorReply(std::string_view reason);
// "N" LF, the header before N raw bytes (recvb, bcastb, :msgpack replies).
void AppendBytesHeader(std::string* out, int64_t n);
// "N0 N1 ..." LF, the header before the concatenated pieces of a byte
// collective (gatherb, allgatherb, alltoallb): one byte count a rank.
void AppendSizesHeader(std::string* out, const std::vector<int>& sizes);

// A (value, rank) pair of minloc/maxloc, in the layout MPI_DOUBLE_INT and
// MPI_LONG_INT give it.
struct F64Loc {
  double value;
  int rank;
};
struct I64Loc {
  long value;
  int rank;
};

bool IsLocOp(Op op);
bool IsLogicalOp(Op op);
// What one number of a request takes as MPI carries it, the size it counts
// against --max-message with: 8 bytes, 16 for minloc/maxloc (value and rank).
// (Inline and on its own: the parser and its fuzzers link without reply.cc.)
inline uint64_t NumberBytes(Op op) {
  return op == Op::kMinloc || op == Op::kMaxloc ? 16 : 8;
}

// Numbers of one rank in the layout MPI wants for the element type: plain
// doubles/int64, or (value, rank) pairs for minloc/maxloc. The MPI side
// reduces into one; the reply is worded from it.
class NumberBuffer {
 public:
  NumberBuffer() = default;
  NumberBuffer(NumType t, Op op, size_t n) { Resize(t, op, n); }

  void Resize(NumType t, Op op, size_t n);

  // The send buffer for a request's numbers: the request's own vector, or for
  // minloc/maxloc this buffer filled with (value, rank) pairs.
  void* SendData(Request& req, int rank);

  void* data() { return bytes_.data(); }
  size_t count() const { return n_; }

  // The numbers as a reply line's content, space-separated (no LF). A
  // logical op's results are always 0 or 1 (over one rank MPI leaves its
  // input as it is).
  void AppendText(std::string* out) const;
  // The numbers as a msgpack value (msgpack_numbers.h): every element of the
  // verb's type, minloc/maxloc ranks included.
  void AppendMsgpack(std::string* out, MsgpackForm form) const;

 private:
  NumType type_ = NumType::kF64;
  Op op_ = Op::kNone;
  size_t n_ = 0;
  std::vector<char> bytes_;
};

// The reply of a numeric verb: the numbers on one line, or for a `:msgpack`
// request `N` LF and a msgpack value of N bytes in the request's form.
std::string NumbersReply(const NumberBuffer& numbers, const Request& req);

// The reply of recv and bcast: the text and LF.
std::string TextReply(std::string_view text);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_REPLY_H_

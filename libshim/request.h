// Request lines of the stdmpi line protocol (docs/protocol.md, "What a request
// looks like" and "The verbs"; version 1): the model
// of one request and the parser that turns a child's stdout line into it.
//
// Pure logic: no MPI, no I/O. Everything a request can get wrong is found here,
// with a reason a user can act on; what is left for MPI to reject is only what
// depends on other ranks (count mismatches, mismatched collectives).
#ifndef STDMPI_LIBSHIM_REQUEST_H_
#define STDMPI_LIBSHIM_REQUEST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msgpack_numbers.h"

namespace stdmpi {

enum class Verb : uint8_t {
  kRank,
  kSize,
  kWtime,
  kBarrier,
  kSend,
  kRecv,
  kSendrecv,
  kStatus,
  kProbe,
  kIprobe,
  kBcast,
  kReduce,
  kAllreduce,
  kScan,
  kExscan,
  kGather,
  kAllgather,
  kScatter,
  kSendb,
  kRecvb,
  kBcastb,
  kErrors,
  kAbort,
  // Byte collectives (per-rank sizes) and sendrecv of bytes.
  kGatherb,
  kAllgatherb,
  kScatterb,
  kAlltoallb,
  kSendrecvb,
  // Non-blocking point-to-point and the calls that complete it.
  kIsend,
  kIsendb,
  kIrecv,
  kIrecvb,
  kWait,
  kTest,
  kWaitany,
  kWaitall,
  // Communicators.
  kSplit,
  kDup,
  kFree,
  // A task farm's keep-alive workers (docs/tasks.md).
  kTask,
  kTaskInfo,
};

enum class NumType : uint8_t { kF64, kI64 };

enum class Op : uint8_t {
  kNone,
  kSum,
  kProd,
  kMin,
  kMax,
  kLand,
  kLor,
  kLxor,
  kBand,
  kBor,
  kBxor,
  kMinloc,
  kMaxloc,
};

// A rank or tag argument that may be `any` in a receive.
inline constexpr int kAny = -1;
// Largest tag the protocol accepts (MPI guarantees MPI_TAG_UB >= 32767).
inline constexpr int kMaxTag = 32767;

const char* VerbName(Verb v);
const char* OpName(Op op);

// True for verbs every rank must call together (they go through the agreement
// check of collective.h before touching MPI_COMM_WORLD).
bool IsCollective(Verb v);

struct Request {
  Verb verb = Verb::kRank;
  NumType type = NumType::kF64;
  Op op = Op::kNone;
  int peer = 0;   // DEST, SRC or ROOT (kAny for `any`)
  int tag = 0;    // TAG or SENDTAG (kAny for `any`)
  int peer2 = 0;  // sendrecv: SRC
  int tag2 = 0;   // sendrecv: RECVTAG
  // TEXT: a view into the parsed line, valid as long as the line is.
  std::string_view text;
  std::vector<double> f64;
  std::vector<int64_t> i64;
  // Raw bytes that follow the request line on stdout (sendb, bcastb on the root).
  // Set as soon as the line announces them, even when the request is otherwise
  // invalid, so the reader can skip them and stay in step with the child.
  int64_t payload_bytes = 0;
  // The `:msgpack` form of a numeric verb: its numbers come as a msgpack value
  // of payload_bytes bytes after the line (DecodeNumberPayload fills f64/i64),
  // and its numeric reply is `N` LF + a msgpack value of the same form.
  bool msgpack = false;
  MsgpackForm msgpack_form = MsgpackForm::kArray;
  // The `:shm=OFF` form (docs/protocol.md, "Arrays through shared memory"):
  // the bytes the line announces lie in the shared region at OFF instead of
  // following on stdout (payload_bytes stays 0, shm_bytes holds their count),
  // and the bytes of the reply are written there at OFF. A numeric verb's
  // numbers are then shm_bytes / 8 raw 8-byte numbers, reduced in place.
  int64_t shm_off = -1;  // -1: not this form
  int64_t shm_out = -1;  // where the reply's bytes go (`:shm=OFF,OUT`; else OFF)
  int64_t shm_bytes = 0;
  bool shm_numbers = false;
  // A reduction's result, in the region at shm_out (set by the reader).
  char* shm_dest = nullptr;
  // scatterb (root) and alltoallb: the byte count of each rank's piece, in
  // rank order; payload_bytes is their sum.
  std::vector<int64_t> sizes;
  // wait, test, waitany, waitall: the request ids named.
  std::vector<int64_t> ids;
  // The communicator (the `:cID` suffix; 0, the world, without one); PEER,
  // ranks in it. free: the one to free.
  int64_t comm = 0;
  // split: COLOR (kNoColor for `none`) and KEY.
  int color = 0, key = 0;
  // task: `task fail REASON` (the REASON is `text`).
  bool task_failed = false;
  bool errors_return = false;  // `errors return` (true) or `errors fatal`
  int abort_code = 0;

  size_t count() const {
    if (shm_numbers) return static_cast<size_t>(shm_bytes / 8);
    return type == NumType::kF64 ? f64.size() : i64.size();
  }
  bool shm() const { return shm_off >= 0; }
};

// Request::comm of a request whose `:cID` named no communicator of this rank.
inline constexpr int64_t kNoComm = -1;

// split's COLOR `none` (MPI_UNDEFINED: the rank joins no new communicator).
inline constexpr int kNoColor = -1;

// This rank's place in a communicator, as the parser checks ranks against it.
struct CommShape {
  int rank = 0, size = 1;
};
using CommShapes = std::map<int64_t, CommShape>;

struct ParseContext {
  int rank = 0;
  int size = 1;
  // Largest byte count accepted in sendb/bcastb (the shim's --max-message).
  int64_t max_payload = int64_t{1} << 30;
  // The communicators this rank has besides the world (by id), or nullptr.
  const CommShapes* comms = nullptr;
};

// `ctx` with the rank and size of communicator `comm` (ctx itself for the
// world, or a communicator it does not know).
ParseContext InComm(const ParseContext& ctx, int64_t comm);

// True for the verbs that take the `:shm=OFF` suffix: those that carry bytes
// (not irecvb, whose reply comes at its wait) and the reductions.
bool TakesShm(Verb v);

// True for the verbs that take a `:cID` suffix (they communicate, or say a
// rank or size).
bool TakesComm(Verb v);

// True if `line` (without its LF) is a request: it starts with "@mpi" followed by
// a space, a CR or the end of the line. "@mpix" and " @mpi" are ordinary output.
bool IsRequestLine(std::string_view line);

struct ParseResult {
  bool ok = false;
  // The verb was recognised (even if its arguments were not), so `req.verb` is
  // meaningful: a bad collective must still take part in the agreement check
  // when errors are returned, or its peers would wait forever.
  bool verb_known = false;
  std::string error;  // reason, when !ok
};

// Parses one request line (without the LF; a trailing CR is dropped). `req` is
// filled as far as parsing got; its `text` views into `line`.
ParseResult ParseRequest(std::string_view line, const ParseContext& ctx, Request* req);

// Decodes the msgpack payload of a `:msgpack` request into its numbers and
// checks them as the text form's numbers are checked (a scatter root's count).
// Returns false with the reason.
bool DecodeNumberPayload(std::string_view payload, const ParseContext& ctx, Request* req,
                         std::string* err);

// The verb named by the start of a request line ("@mpi allreduce:i64 ..."),
// if it names one: what an over-long line, never parsed whole, was for. The
// word must end within `head` (a space, ':' or CR after it).
std::optional<Verb> VerbOfRequestLine(std::string_view head);

// Where output (one line or several) holds a request glued after other
// text on its line ("50%@mpi barrier": the program printed without a
// newline, then made a request), or npos. The shim cannot take it for a request (the text before it
// may be anything), so the program would wait for a reply that never comes: the shim warns instead.
// Only a known verb counts.
size_t GluedRequest(std::string_view text);

// The reason for an unknown verb, with a suggestion when one verb is close:
// "unknown verb \"allreduc\" (did you mean \"allreduce\"?)".
std::string UnknownVerbReason(std::string_view verb);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_REQUEST_H_

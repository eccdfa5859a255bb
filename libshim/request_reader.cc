#include "request_reader.h"

#include <algorithm>

#include "numbers.h"
#include "options.h"

namespace stdmpi {

RequestReader::RequestReader(int64_t max_line, std::function<size_t()> unread_reply)
    : demux_(static_cast<size_t>(max_line)),
      max_line_(max_line),
      unread_reply_(std::move(unread_reply)) {}

RequestReader::Event RequestReader::Failed(std::string reason, std::optional<Verb> collective,
                                           int64_t comm) {
  Event ev;
  ev.kind = Kind::kFailed;
  ev.failure.reason = std::move(reason);
  ev.failure.collective = collective;
  ev.failure.comm = comm;
  return ev;
}

RequestReader::Event RequestReader::Next() {
  for (;;) {
    StdoutDemux::Item it = demux_.Next();
    Event ev;
    switch (it.kind) {
      case StdoutDemux::Kind::kNone:
        return ev;
      case StdoutDemux::Kind::kOutput:
        ev.kind = Kind::kOutput;
        ev.output = it.data;
        return ev;
      case StdoutDemux::Kind::kRequest:
        if (!output_only_ && TakeLine(it.data, &ev)) return ev;
        break;
      case StdoutDemux::Kind::kPayload:
        if (TakePayload(it.data, &ev)) return ev;
        break;
      case StdoutDemux::Kind::kPayloadSkipped:
        if (deferred_ && !output_only_) {
          ev.kind = Kind::kFailed;
          ev.failure = std::move(*deferred_);
          deferred_.reset();
          return ev;
        }
        deferred_.reset();
        break;
      case StdoutDemux::Kind::kPayloadTruncated:
        pending_.reset();
        deferred_.reset();
        if (output_only_) break;
        return Failed("the request announced raw bytes, but the command's stdout ended after " +
                          std::to_string(it.got) + " of them",
                      std::nullopt);
      case StdoutDemux::Kind::kRequestTooLong: {
        if (output_only_) break;
        Remember(it.data, 60);
        // A collective still takes part in the agreement check (errors
        // return), so that its peers are told instead of left waiting.
        // Only what any read shows: the line's first max_line bytes.
        std::optional<Verb> verb = VerbOfRequestLine(
            it.data.substr(0, std::min(it.data.size(), static_cast<size_t>(max_line_))));
        return Failed("request line longer than the limit of " + FormatByteSize(max_line_) +
                          " (raise it with stdmpirun --max-line)",
                      verb && IsCollective(*verb) ? verb : std::nullopt);
      }
      case StdoutDemux::Kind::kOutputTooLong:
        ev.kind = Kind::kEnd;
        ev.code = kExitProtocol;
        ev.message = "an output line grew past the limit of " + FormatByteSize(max_line_) +
                     " without a newline (it starts " + QuoteForMessage(it.data, 40) +
                     "); end lines with a newline, or raise the limit with stdmpirun --max-line";
        return ev;
    }
  }
}

bool RequestReader::TakeLine(std::string_view line, Event* ev) {
  Remember(line, 160);
  if (size_t unread = unread_reply_(); unread > 0) {
    // Strict lockstep broken: the reply would sit behind the unread one, and
    // the program would read the wrong answer. Raw bytes the line announces
    // are skipped, not forwarded as output.
    Request announced;
    ParseRequest(line, ctx_, &announced);
    if (announced.payload_bytes > 0) demux_.ExpectPayload(announced.payload_bytes, true);
    ev->kind = Kind::kEnd;
    ev->code = kExitProtocol;
    ev->message =
        "the command made a request before reading the whole reply to its previous one (" +
        std::to_string(unread) + " byte(s) unread): " + request_quoted() +
        "\nstdmpi:   (read each reply, all of it, before the next request)";
    return true;
  }
  Request req;
  ParseResult pr = ParseRequest(line, ctx_, &req);
  if (keep_trace_) {
    trace_name_ = pr.verb_known ? VerbName(req.verb) : "(bad request)";
    if (pr.verb_known && req.type == NumType::kI64) trace_name_ += ":i64";
    if (pr.verb_known && req.msgpack) trace_name_ += ":msgpack";
    if (pr.verb_known && req.shm()) trace_name_ += ":shm";
    trace_line_.assign(line.substr(0, 200));
  }
  if (!pr.ok) {
    std::optional<Verb> coll;
    if (pr.verb_known && IsCollective(req.verb)) coll = req.verb;
    if (req.payload_bytes > 0) {
      // The announced bytes follow anyway: they are skipped, never output.
      demux_.ExpectPayload(req.payload_bytes, true);
      if (errors_return_) {
        // The program goes on: answer once they went by.
        deferred_ = Failed(pr.error, coll, req.comm).failure;
        return false;
      }
    }
    *ev = Failed(pr.error, coll, req.comm);
    return true;
  }
  if (req.payload_bytes > 0) {
    int64_t n = req.payload_bytes;
    pending_ = std::move(req);
    demux_.ExpectPayload(n, false);
    return false;
  }
  std::string_view shared;
  if (req.shm() && (req.shm_bytes > 0 || req.shm_numbers)) {
    std::string why = "no shared region on this rank";
    // A reduction's result goes to OUT, as many bytes: the range that ends
    // last first, so that mapping the other moves nothing.
    std::string_view dest;
    const bool two = req.shm_numbers && req.shm_out != req.shm_off;
    const bool out_first = two && req.shm_out > req.shm_off;
    bool ok = static_cast<bool>(shm_view_);
    if (ok && out_first) ok = shm_view_(req.shm_out, req.shm_bytes, &dest, &why);
    if (ok) ok = shm_view_(req.shm_off, req.shm_bytes, &shared, &why);
    if (ok && two && !out_first) ok = shm_view_(req.shm_out, req.shm_bytes, &dest, &why);
    if (!ok) {
      std::optional<Verb> coll;
      if (IsCollective(req.verb)) coll = req.verb;
      *ev = Failed(why, coll, req.comm);
      return true;
    }
    if (req.shm_numbers) req.shm_dest = const_cast<char*>(two ? dest.data() : shared.data());
  }
  ev->kind = Kind::kRequest;
  ev->request = std::move(req);
  ev->payload = shared;
  return true;
}

bool RequestReader::TakePayload(std::string_view data, Event* ev) {
  if (!pending_ || output_only_) {
    pending_.reset();
    return false;
  }
  Request req = std::move(*pending_);
  pending_.reset();
  if (req.msgpack) {
    // The numbers are decoded here; the payload is not needed after.
    std::string err;
    if (!DecodeNumberPayload(data, ctx_, &req, &err)) {
      *ev = Failed(err, req.verb, req.comm);  // every :msgpack verb is a collective
      return true;
    }
    data = {};
  }
  ev->kind = Kind::kRequest;
  ev->request = std::move(req);
  ev->payload = data;
  return true;
}

}  // namespace stdmpi

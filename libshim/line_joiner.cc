#include "line_joiner.h"

namespace stdmpi {

void LineJoiner::Feed(std::string_view data, std::string* out) {
  size_t last_nl = data.rfind('\n');
  if (last_nl == std::string_view::npos) {
    pending_.append(data);
  } else {
    out->append(pending_);
    pending_.clear();
    out->append(data.substr(0, last_nl + 1));
    pending_.append(data.substr(last_nl + 1));
  }
  // A progress bar: what ends with a CR goes out now, as a piece of its own
  // (not a bare CR at a line's start, as NCL prints after each LF).
  if (size_t cr = pending_.rfind('\r');
      cr != std::string::npos && pending_.find_first_not_of('\r') < cr) {
    out->append(pending_, 0, cr + 1);
    pending_.erase(0, cr + 1);
  }
  if (pending_.size() > max_pending_) {
    out->append(pending_);
    pending_.clear();
  }
}

void LineJoiner::Finish(std::string* out) {
  out->append(pending_);
  pending_.clear();
}

}  // namespace stdmpi

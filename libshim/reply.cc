#include "reply.h"

#include <bit>
#include <cstring>

#include "msgpack_numbers.h"
#include "numbers.h"

namespace stdmpi {

static_assert(sizeof(long) == 8, "MPI_LONG_INT pairs carry int64 values");

std::string OkReply() {
  return "ok\n";
}

std::string NoneReply() {
  return "none\n";
}

std::string IntReply(int64_t v) {
  std::string r;
  AppendI64(&r, v);
  r.push_back('\n');
  return r;
}

std::string F64Reply(double v) {
  std::string r;
  AppendF64(&r, v);
  r.push_back('\n');
  return r;
}

std::string StatusReply(int source, int tag, int64_t bytes) {
  std::string r;
  AppendI64(&r, source);
  r.push_back(' ');
  AppendI64(&r, tag);
  r.push_back(' ');
  AppendI64(&r, bytes);
  r.push_back('\n');
  return r;
}

std::string ErrorReply(std::string_view reason) {
  std::string r = "@error ";
  r.append(reason);
  r.push_back('\n');
  return r;
}

void AppendBytesHeader(std::string* out, int64_t n) {
  AppendI64(out, n);
  out->push_back('\n');
}

void AppendSizesHeader(std::string* out, const std::vector<int>& sizes) {
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) out->push_back(' ');
    AppendI64(out, sizes[i]);
  }
  out->push_back('\n');
}

std::string TextReply(std::string_view text) {
  std::string r;
  r.reserve(text.size() + 1);
  r.append(text);
  r.push_back('\n');
  return r;
}

bool IsLocOp(Op op) {
  return op == Op::kMinloc || op == Op::kMaxloc;
}

bool IsLogicalOp(Op op) {
  return op == Op::kLand || op == Op::kLor || op == Op::kLxor;
}

void NumberBuffer::Resize(NumType t, Op op, size_t n) {
  type_ = t;
  op_ = op;
  n_ = n;
  size_t elem = IsLocOp(op) ? (t == NumType::kF64 ? sizeof(F64Loc) : sizeof(I64Loc)) : 8;
  bytes_.assign(n * elem, 0);
}

void* NumberBuffer::SendData(Request& req, int rank) {
  if (!IsLocOp(req.op)) {
    return req.type == NumType::kF64 ? static_cast<void*>(req.f64.data())
                                     : static_cast<void*>(req.i64.data());
  }
  Resize(req.type, req.op, req.count());
  for (size_t i = 0; i < n_; ++i) {
    if (type_ == NumType::kF64) {
      reinterpret_cast<F64Loc*>(bytes_.data())[i] = {req.f64[i], rank};
    } else {
      reinterpret_cast<I64Loc*>(bytes_.data())[i] = {static_cast<long>(req.i64[i]), rank};
    }
  }
  return bytes_.data();
}

void NumberBuffer::AppendText(std::string* out) const {
  const char* p = bytes_.data();
  for (size_t i = 0; i < n_; ++i) {
    if (i > 0) out->push_back(' ');
    if (IsLocOp(op_)) {
      if (type_ == NumType::kF64) {
        const F64Loc& e = reinterpret_cast<const F64Loc*>(p)[i];
        AppendF64(out, e.value);
        out->push_back(' ');
        AppendI64(out, e.rank);
      } else {
        const I64Loc& e = reinterpret_cast<const I64Loc*>(p)[i];
        AppendI64(out, e.value);
        out->push_back(' ');
        AppendI64(out, e.rank);
      }
    } else if (type_ == NumType::kF64) {
      double v;
      std::memcpy(&v, p + i * 8, 8);
      if (IsLogicalOp(op_)) v = v != 0 ? 1 : 0;
      AppendF64(out, v);
    } else {
      int64_t v;
      std::memcpy(&v, p + i * 8, 8);
      if (IsLogicalOp(op_)) v = v != 0 ? 1 : 0;
      AppendI64(out, v);
    }
  }
}

void NumberBuffer::AppendMsgpack(std::string* out, MsgpackForm form) const {
  const size_t elems = IsLocOp(op_) ? 2 * n_ : n_;
  if (form == MsgpackForm::kBin && !IsLocOp(op_) && !IsLogicalOp(op_) &&
      std::endian::native == std::endian::little) {
    MsgpackWriter(out, 5).BinHeader(8 * n_);
    out->append(bytes_.data(), 8 * n_);  // already the bin's layout
    return;
  }
  MsgpackWriter w(out, MsgpackNumbersSize(form, elems));
  if (form == MsgpackForm::kArray) {
    w.ArrayHeader(elems);
  } else {
    w.BinHeader(8 * elems);
  }
  const bool f = type_ == NumType::kF64;
  auto put_f = [&](double v) { form == MsgpackForm::kArray ? w.F64(v) : w.F64Le(v); };
  auto put_i = [&](int64_t v) { form == MsgpackForm::kArray ? w.I64(v) : w.I64Le(v); };
  const char* p = bytes_.data();
  for (size_t i = 0; i < n_; ++i) {
    if (IsLocOp(op_)) {
      if (f) {
        const F64Loc& e = reinterpret_cast<const F64Loc*>(p)[i];
        put_f(e.value);
        put_f(e.rank);
      } else {
        const I64Loc& e = reinterpret_cast<const I64Loc*>(p)[i];
        put_i(e.value);
        put_i(e.rank);
      }
      continue;
    }
    int64_t bits;
    std::memcpy(&bits, p + i * 8, 8);
    if (f) {
      double v = std::bit_cast<double>(bits);
      if (IsLogicalOp(op_)) v = v != 0 ? 1 : 0;
      put_f(v);
    } else {
      put_i(IsLogicalOp(op_) ? bits != 0 : bits);
    }
  }
}

std::string NumbersReply(const NumberBuffer& numbers, const Request& req) {
  std::string r;
  if (req.msgpack) {
    std::string value;
    numbers.AppendMsgpack(&value, req.msgpack_form);
    AppendBytesHeader(&r, static_cast<int64_t>(value.size()));
    r.append(value);
    return r;
  }
  numbers.AppendText(&r);
  r.push_back('\n');
  return r;
}

}  // namespace stdmpi

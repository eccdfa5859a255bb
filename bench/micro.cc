// Micro-benchmarks (Google Benchmark) of the shim's pure logic: what every
// request costs before and after MPI. Run: build/bench/micro
//
//   BM_ParseRequest/*   a request line into a Request (numbers included)
//   BM_ParseF64/...     one number as strtod reads it
//   BM_FormatF64/...    the shortest form that reads back
//   BM_ReplyNumbers/N   an allreduce reply of N doubles (text)
//   BM_Msgpack*/N       the same N doubles encoded/decoded with msgpack-c
//   BM_Framing*/N       the shim's own codec of the :msgpack form
//                       (msgpack_numbers.h): an array of float 64 and a bin of
//                       raw doubles, each way
#include <benchmark/benchmark.h>

#include <msgpack.hpp>
#include <random>
#include <string>
#include <vector>

#include "msgpack_numbers.h"
#include "numbers.h"
#include "request.h"

using namespace stdmpi;

namespace {

std::vector<double> Values(size_t n) {
  std::mt19937_64 g(42);
  std::uniform_real_distribution<double> d(-1e6, 1e6);
  std::vector<double> v(n);
  for (double& x : v) x = d(g);
  return v;
}

void BM_ParseRequest(benchmark::State& st, std::string line) {
  ParseContext ctx;
  ctx.size = 64;
  for (auto _ : st) {
    Request r;
    ParseResult pr = ParseRequest(line, ctx, &r);
    benchmark::DoNotOptimize(pr);
    benchmark::DoNotOptimize(r);
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * line.size()));
}
BENCHMARK_CAPTURE(BM_ParseRequest, rank, std::string("@mpi rank"));
BENCHMARK_CAPTURE(BM_ParseRequest, send_8B, std::string("@mpi send 1 5 abcdefgh"));
BENCHMARK_CAPTURE(BM_ParseRequest, recv, std::string("@mpi recv any 5"));
BENCHMARK_CAPTURE(BM_ParseRequest, allreduce_1, std::string("@mpi allreduce sum 3.14159"));

void BM_ParseRequestNumbers(benchmark::State& st) {
  std::string line = "@mpi allreduce sum";
  std::string nums;
  std::vector<double> v = Values(static_cast<size_t>(st.range(0)));
  AppendF64List(&nums, v.data(), v.size());
  line += " " + nums;
  ParseContext ctx;
  for (auto _ : st) {
    Request r;
    ParseResult pr = ParseRequest(line, ctx, &r);
    benchmark::DoNotOptimize(pr);
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * line.size()));
}
BENCHMARK(BM_ParseRequestNumbers)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

void BM_ParseF64(benchmark::State& st, std::string token) {
  for (auto _ : st) {
    double v;
    benchmark::DoNotOptimize(ParseF64(token, &v));
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK_CAPTURE(BM_ParseF64, short, std::string("0.1"));
BENCHMARK_CAPTURE(BM_ParseF64, long, std::string("-123456.78901234567"));
BENCHMARK_CAPTURE(BM_ParseF64, exponent, std::string("6.02214076e23"));

void BM_FormatF64(benchmark::State& st, double v) {
  std::string out;
  for (auto _ : st) {
    out.clear();
    AppendF64(&out, v);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK_CAPTURE(BM_FormatF64, integer, 3.0);
BENCHMARK_CAPTURE(BM_FormatF64, tenth, 0.1);
BENCHMARK_CAPTURE(BM_FormatF64, pi, 3.141592653589793);

void BM_ReplyNumbers(benchmark::State& st) {
  std::vector<double> v = Values(static_cast<size_t>(st.range(0)));
  std::string out;
  for (auto _ : st) {
    out.clear();
    AppendF64List(&out, v.data(), v.size());
    out.push_back('\n');
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * out.size()));
}
BENCHMARK(BM_ReplyNumbers)->Arg(1)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

void BM_MsgpackEncode(benchmark::State& st) {
  std::vector<double> v = Values(static_cast<size_t>(st.range(0)));
  msgpack::sbuffer buf;
  for (auto _ : st) {
    buf.clear();
    msgpack::pack(buf, v);
    benchmark::DoNotOptimize(buf.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * buf.size()));
}
BENCHMARK(BM_MsgpackEncode)->Arg(1)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

void BM_MsgpackDecode(benchmark::State& st) {
  std::vector<double> v = Values(static_cast<size_t>(st.range(0)));
  msgpack::sbuffer buf;
  msgpack::pack(buf, v);
  for (auto _ : st) {
    msgpack::object_handle oh = msgpack::unpack(buf.data(), buf.size());
    std::vector<double> back = oh.get().as<std::vector<double>>();
    benchmark::DoNotOptimize(back.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_MsgpackDecode)->Arg(1)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

std::string Framed(const std::vector<double>& v, MsgpackForm form) {
  std::string out;
  MsgpackWriter w(&out, MsgpackNumbersSize(form, v.size()));
  if (form == MsgpackForm::kArray) {
    w.ArrayHeader(v.size());
    for (double x : v) w.F64(x);
  } else {
    w.BinHeader(8 * v.size());
    for (double x : v) w.F64Le(x);
  }
  w.Finish();
  return out;
}

void BM_FramingDecode(benchmark::State& st, MsgpackForm form) {
  std::vector<double> v = Values(static_cast<size_t>(st.range(0)));
  std::string data = Framed(v, form);
  std::vector<double> f64;
  std::vector<int64_t> i64;
  std::string err;
  for (auto _ : st) {
    MsgpackForm got;
    bool ok = DecodeMsgpackNumbers(data, false, &f64, &i64, &got, &err);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(f64.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * data.size()));
}
BENCHMARK_CAPTURE(BM_FramingDecode, array, MsgpackForm::kArray)
    ->Arg(1000)
    ->Arg(1000000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FramingDecode, bin, MsgpackForm::kBin)
    ->Arg(1000)
    ->Arg(1000000)
    ->Unit(benchmark::kMicrosecond);

void BM_FramingEncode(benchmark::State& st, MsgpackForm form) {
  std::vector<double> v = Values(static_cast<size_t>(st.range(0)));
  size_t bytes = 0;
  for (auto _ : st) {
    std::string out = Framed(v, form);
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * bytes));
}
BENCHMARK_CAPTURE(BM_FramingEncode, array, MsgpackForm::kArray)
    ->Arg(1000)
    ->Arg(1000000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FramingEncode, bin, MsgpackForm::kBin)
    ->Arg(1000)
    ->Arg(1000000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

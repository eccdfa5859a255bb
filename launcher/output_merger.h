// The ranks' output on this machine, merged line by line (see line_joiner.h).
//
// stdmpirun listens on a Unix socket in a private directory and tells the
// shims its path (STDMPI_OUTPUT_SOCKET). A shim that can reach it (it runs on
// this machine) connects twice, says "1" or "2" and puts the two connections
// in place of its stdout and stderr; a shim that cannot (another host) keeps
// writing through the MPI launcher as before. stdmpirun writes only whole
// lines of each stream, so lines of different ranks never cut into each other
// (a line's start that ends with a CR, a progress bar, goes out at once).
// A rank's stderr goes through a BannerFilter of its own.
//
// Each connection opens with a line "STREAM RANK MARK": 1 stdout, 2 stderr,
// 3 the shim's own messages (apart only with --output-filename: WriteFilesIn,
// where streams 1 and 2 go to the rank's files and 3 to stderr), MARK the
// job's report mark, which only the shims know (a program that finds the
// socket cannot speak as a rank).
#ifndef STDMPI_LAUNCHER_OUTPUT_MERGER_H_
#define STDMPI_LAUNCHER_OUTPUT_MERGER_H_

#include <poll.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "banner_filter.h"
#include "line_joiner.h"

namespace stdmpi {

class OutputMerger {
 public:
  // `write(stream, bytes)` writes merged output (stream 1 or 2), blocking.
  explicit OutputMerger(std::function<void(int, const std::string&)> write)
      : write_(std::move(write)) {}
  ~OutputMerger();
  OutputMerger(const OutputMerger&) = delete;
  OutputMerger& operator=(const OutputMerger&) = delete;

  // The job's report mark (libshim/report_mark.h), for every rank's filter;
  // `on_report` runs when a shim's marked report has passed.
  void SetReportMark(std::string mark, std::function<void()> on_report) {
    mark_ = std::move(mark);
    on_report_ = std::move(on_report);
  }

  // --output-filename: streams 1 and 2 of each rank go to its files in
  // `job_dir`, the open DIR/1 of `dir` (libshim/output_files.h), created when
  // the rank connects; a rank's stream connects once.
  void WriteFilesIn(int job_dir, std::string dir) {
    files_fd_ = job_dir;
    files_dir_ = std::move(dir);
  }

  // Listens in a new directory under $TMPDIR (or /tmp); false with *err.
  bool Listen(std::string* err);
  const std::string& path() const { return path_; }

  // Appends its descriptors to `fds`; then Handle() with the polled array
  // and the index its descriptors start at.
  void AddPollFds(std::vector<pollfd>* fds) const;
  void Handle(const std::vector<pollfd>& fds, size_t first);
  // True while a rank's stderr holds lines back (a dashed rule that might
  // open one of Open MPI's boxes): poll with a timeout, then FlushHeld.
  bool holding() const;
  // Lets out what a rank's stderr has held back for `seconds` or longer: a
  // box that stays open is not one of Open MPI's messages.
  void FlushHeld(double seconds);
  // After the launcher ended: takes what the ranks still have in flight,
  // until every connection has ended or `seconds` have passed.
  void Drain(double seconds);

 private:
  struct Conn {
    ~Conn();
    int fd = -1;
    int stream = 0;     // 0 until the opening line says 1, 2 or 3
    int rank = -1;      // from the opening line
    std::string hello;  // the opening line, as it arrives
    int file_fd = -1;   // --output-filename: the rank's file for this stream
    LineJoiner joiner{256 * 1024};
    // A rank's stderr may carry Open MPI's boxes too (under srun a rank
    // prints its MPI_ABORT box itself): the same filter as mpirun's stderr.
    BannerFilter filter;
    double held_since = 0;  // when the filter began to hold lines (0: it does not)
    bool reported = false;  // its shim's report has passed
  };
  // Joins, filters (stderr) and writes `data`; with `end`, flushes.
  void Emit(Conn* c, std::string_view data, bool end);
  // Writes what may go out: to the rank's file, or the terminal's stream.
  void Deliver(Conn* c, const std::string& joined);
  void Accept();
  // Reads once; false when the connection ended (it is then flushed).
  bool Read(Conn* c);
  // Takes the opening line off `data`; false if it is not a valid one.
  bool TakeHello(Conn* c, std::string_view* data);
  // The stream is known: with --output-filename, the rank's file.
  void OpenFile(Conn* c);

  std::function<void(int, const std::string&)> write_;
  std::string mark_;
  std::function<void()> on_report_;
  int listen_fd_ = -1;
  std::string dir_, path_;
  std::string files_dir_;
  int files_fd_ = -1;
  std::set<std::pair<int, int>> connected_;  // (rank, stream)
  bool warned_files_ = false;
  std::vector<std::unique_ptr<Conn>> conns_;
};

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_OUTPUT_MERGER_H_

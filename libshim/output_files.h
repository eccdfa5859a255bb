// --output-filename DIR: each rank's output in DIR/1/rank.N/stdout and
// DIR/1/rank.N/stderr, as Open MPI's mpirun lays it out. stdmpirun writes the
// files of the ranks whose output it merges (output_merger.h); a shim that
// cannot reach it (another host) writes its own.
//
// Programs may run with DIR in reach, and may replace any part of it with a
// link. So DIR/1 is opened once, before any program starts (stdmpirun before
// the job, a shim before its program), and everything below it is made
// relative to that descriptor without following a link: rank.N is opened
// with O_NOFOLLOW, and each file is created anew after removing whatever had
// its name (a link a program made is removed, not written through). DIR
// itself must not be a link: given as one, it is refused.
#ifndef STDMPI_LIBSHIM_OUTPUT_FILES_H_
#define STDMPI_LIBSHIM_OUTPUT_FILES_H_

#include <string>

namespace stdmpi {

// DIR/1 as Open MPI names it ("1": the job).
std::string OutputJobDir(const std::string& dir);

// Creates DIR (as mkdir -p) and DIR/1 and opens DIR/1; returns the
// descriptor (close-on-exec), or -1 with *err naming the path and the fix.
int OpenOutputJobDir(const std::string& dir, std::string* err);

// Creates rank.N (if needed) and rank.N/`name` anew in the open DIR/1 for
// writing (O_APPEND, close-on-exec). Returns the descriptor, or -1 with *err
// (`dir` names DIR in it).
int CreateRankOutputFile(int job_dir, const std::string& dir, int rank, const char* name,
                         std::string* err);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_OUTPUT_FILES_H_

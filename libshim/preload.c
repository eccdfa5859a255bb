/* libstdmpi-preload.so: loaded into a rank's program (LD_PRELOAD) when its
 * output must be line-buffered: NCL always, any program with --line-buffered.
 *
 * C stdio buffers stdout in blocks when it is a pipe, so a request printed
 * without fflush would sit in the program's buffer while the program waits
 * for its reply: a deadlock. Line buffering sends each line when it ends.
 * The constructor runs before main, before anything was printed.
 */
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void stdmpi_preload_init(void) {
  const char* v = getenv("STDMPI_LINEBUF");
  if (v != NULL && v[0] == '1') setvbuf(stdout, NULL, _IOLBF, 0);
}

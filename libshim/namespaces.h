// The steps of making namespaces that stdmpi-init (each container) and
// MakeRankNamespaces (a rank's network, made once; spawn.h) share.
// Header-only (stdmpi-init links no stdmpi library). The functions make only
// system calls, on strings made beforehand: MakeRankNamespaces runs them
// after fork() in a threaded process.
#ifndef STDMPI_LIBSHIM_NAMESPACES_H_
#define STDMPI_LIBSHIM_NAMESPACES_H_

#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "fsutil.h"

namespace stdmpi {

// "ID ID 1": a user namespace's map of one id to itself.
inline std::string MapToItself(unsigned id) {
  return std::to_string(id) + " " + std::to_string(id) + " 1";
}

// Enters a new user namespace in which this process's user and group are
// themselves (`uid_map`, `gid_map`: MapToItself), so that files keep their
// owners. The process must be dumpable (its /proc/self files its own).
inline bool EnterOwnUserNamespace(const char* uid_map, const char* gid_map) {
  return unshare(CLONE_NEWUSER) == 0 && WriteFile("/proc/self/setgroups", "deny", 4) &&
         WriteFile("/proc/self/uid_map", uid_map, strlen(uid_map)) &&
         WriteFile("/proc/self/gid_map", gid_map, strlen(gid_map));
}

// Brings the loopback of this process's network namespace up.
inline bool LoopbackUp() {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return false;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  memcpy(ifr.ifr_name, "lo", 3);
  bool ok = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  ok = ok && ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
  close(sock);
  return ok;
}

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_NAMESPACES_H_

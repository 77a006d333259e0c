#include "netdev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tap6 {

namespace {

// A datagram socket to carry SIOC* ioctls. IPv6 first, IPv4 if the kernel has
// IPv6 disabled. Returns the fd or -errno.
int IoctlSocket() {
  int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0) return s;
  s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0) return s;
  return -errno;
}

void FillName(struct ifreq* ifr, const char* name) {
  memset(ifr, 0, sizeof *ifr);
  // Names are validated at open to fit in IFNAMSIZ - 1 bytes.
  strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
}

// Runs one interface ioctl on a fresh socket; 0 or errno.
int IfIoctl(unsigned long request, struct ifreq* ifr) {
  int s = IoctlSocket();
  if (s < 0) return -s;
  int err = 0;
  if (ioctl(s, request, ifr) < 0) err = errno;
  close(s);
  return err;
}

}  // namespace

int ValidateIfName(const char* name, size_t len, const char** why) {
  if (len == 0) return 0;
  if (len > kMaxIfName) {
    *why = "interface names are at most 15 bytes (IFNAMSIZ - 1)";
    return EINVAL;
  }
  if (strlen(name) != len) {
    *why = "interface names cannot contain NUL";
    return EINVAL;
  }
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    *why = "\".\" and \"..\" are not interface names";
    return EINVAL;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) {
      *why = "interface names cannot contain '/', ':', spaces or control characters";
      return EINVAL;
    }
  }
  return 0;
}

int OpenTap(const char* name, int* fd, char (&actualName)[IFNAMSIZ],
            const char** step) {
  *step = "open";
  int f = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (f < 0) return errno;

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (name[0] != '\0') {
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  } else {
    strncpy(ifr.ifr_name, "tap%d", IFNAMSIZ - 1);
  }
  *step = "ioctl(TUNSETIFF)";
  if (ioctl(f, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(f);
    return err;
  }
  memcpy(actualName, ifr.ifr_name, IFNAMSIZ);
  actualName[IFNAMSIZ - 1] = '\0';
  *fd = f;
  return 0;
}

int CheckAttached(int fd) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return errno;
  return 0;
}

int GetHwAddr(const char* name, uint8_t (&mac)[6]) {
  struct ifreq ifr;
  FillName(&ifr, name);
  int err = IfIoctl(SIOCGIFHWADDR, &ifr);
  if (err != 0) return err;
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return 0;
}

int GetMtu(const char* name, int* mtu) {
  struct ifreq ifr;
  FillName(&ifr, name);
  int err = IfIoctl(SIOCGIFMTU, &ifr);
  if (err != 0) return err;
  *mtu = ifr.ifr_mtu;
  return 0;
}

int SetMtu(const char* name, int mtu) {
  struct ifreq ifr;
  FillName(&ifr, name);
  ifr.ifr_mtu = mtu;
  return IfIoctl(SIOCSIFMTU, &ifr);
}

int GetUp(const char* name, bool* up) {
  struct ifreq ifr;
  FillName(&ifr, name);
  int err = IfIoctl(SIOCGIFFLAGS, &ifr);
  if (err != 0) return err;
  *up = (ifr.ifr_flags & IFF_UP) != 0;
  return 0;
}

int SetUp(const char* name, bool up) {
  int s = IoctlSocket();
  if (s < 0) return -s;
  struct ifreq ifr;
  FillName(&ifr, name);
  int err = 0;
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    err = errno;
  } else {
    short flags = ifr.ifr_flags;
    short wanted = up ? static_cast<short>(flags | IFF_UP)
                      : static_cast<short>(flags & ~IFF_UP);
    if (wanted != flags) {
      ifr.ifr_flags = wanted;
      if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) err = errno;
    }
  }
  close(s);
  return err;
}

}  // namespace tap6

// Thin, JS-free wrappers around the kernel interfaces a TAP needs. Every
// function returns 0 on success or a positive errno value; none of them throws
// or allocates.
//
// The SIOC* interface ioctls address the device by name through a datagram
// socket, so they only work while the device is in this process's network
// namespace. Reads and writes on the TAP fd keep working after the kernel side
// has been moved elsewhere with `ip link set NAME netns NS`.
#pragma once

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

namespace tap6 {

// Longest interface name the kernel accepts (IFNAMSIZ minus the NUL).
constexpr size_t kMaxIfName = IFNAMSIZ - 1;

// Checks an interface name before the kernel sees it (the kernel would
// silently truncate a long one). An empty name is valid: the kernel picks
// "tap%d". On failure returns EINVAL and points *why at a static explanation.
int ValidateIfName(const char* name, size_t len, const char** why);

// Opens /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC) and attaches it to the
// TAP `name` (created if missing) with IFF_TAP | IFF_NO_PI. On success stores
// the fd and the kernel's name for the device (NUL-terminated). On failure
// stores in *step which call failed: "open" or "ioctl(TUNSETIFF)".
int OpenTap(const char* name, int* fd, char (&actualName)[IFNAMSIZ],
            const char** step);

// TUNGETIFF on the TAP fd: 0 while a device is attached, EBADFD once the
// device has been deleted under us. Works in any network namespace.
int CheckAttached(int fd);

int GetHwAddr(const char* name, uint8_t (&mac)[6]);
int GetMtu(const char* name, int* mtu);
int SetMtu(const char* name, int mtu);
int GetUp(const char* name, bool* up);
int SetUp(const char* name, bool up);

}  // namespace tap6

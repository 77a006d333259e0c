#include "errors.h"

#include <errno.h>
#include <string.h>

#include "addon_data.h"

namespace tap6 {

namespace {

struct ErrnoEntry {
  int value;
  const char* name;
  const char* text;
};

// The errnos that opening, configuring, reading and writing a TAP can return,
// plus a few general ones. Anything else is reported as EUNKNOWN with the
// C library's description and the number.
const ErrnoEntry kErrnoTable[] = {
    {EPERM, "EPERM", "Operation not permitted"},
    {ENOENT, "ENOENT", "No such file or directory"},
    {EINTR, "EINTR", "Interrupted system call"},
    {EIO, "EIO", "Input/output error"},
    {ENXIO, "ENXIO", "No such device or address"},
    {EBADF, "EBADF", "Bad file descriptor"},
    {EAGAIN, "EAGAIN", "Resource temporarily unavailable"},
    {ENOMEM, "ENOMEM", "Cannot allocate memory"},
    {EACCES, "EACCES", "Permission denied"},
    {EFAULT, "EFAULT", "Bad address"},
    {EBUSY, "EBUSY", "Device or resource busy"},
    {EEXIST, "EEXIST", "File exists"},
    {ENODEV, "ENODEV", "No such device"},
    {EINVAL, "EINVAL", "Invalid argument"},
    {ENFILE, "ENFILE", "Too many open files in system"},
    {EMFILE, "EMFILE", "Too many open files"},
    {ENOTTY, "ENOTTY", "Inappropriate ioctl for device"},
    {ENOSPC, "ENOSPC", "No space left on device"},
    {EPIPE, "EPIPE", "Broken pipe"},
    {ERANGE, "ERANGE", "Numerical result out of range"},
    {ENAMETOOLONG, "ENAMETOOLONG", "File name too long"},
    {ENOSYS, "ENOSYS", "Function not implemented"},
    {EBADFD, "EBADFD", "File descriptor in bad state"},
    {EMSGSIZE, "EMSGSIZE", "Message too long"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT", "Protocol not supported"},
    {EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported"},
    {EAFNOSUPPORT, "EAFNOSUPPORT", "Address family not supported by protocol"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", "Cannot assign requested address"},
    {ENETDOWN, "ENETDOWN", "Network is down"},
    {ENOBUFS, "ENOBUFS", "No buffer space available"},
};

const ErrnoEntry* FindErrno(int err) {
  for (const ErrnoEntry& e : kErrnoTable) {
    if (e.value == err) return &e;
  }
  return nullptr;
}

}  // namespace

const char* ErrnoName(int err) {
  const ErrnoEntry* e = FindErrno(err);
  return e != nullptr ? e->name : "EUNKNOWN";
}

std::string ErrnoText(int err) {
  const ErrnoEntry* e = FindErrno(err);
  if (e != nullptr) return e->text;
  char buf[128];
  // GNU strerror_r: returns a pointer to the text (maybe not into buf).
  const char* text = strerror_r(err, buf, sizeof buf);
  return std::string(text) + " [errno " + std::to_string(err) + "]";
}

std::string ErrnoMessage(const std::string& what, int err, const char* hint) {
  std::string msg = what;
  msg += ": ";
  msg += ErrnoText(err);
  msg += " (";
  msg += ErrnoName(err);
  msg += ")";
  if (hint != nullptr && hint[0] != '\0') {
    msg += " \u2014 ";
    msg += hint;
  }
  return msg;
}

Napi::Value MakeTapError(Napi::Env env, const std::string& message, int err,
                         const char* syscall) {
  Napi::EscapableHandleScope scope(env);
  Napi::String jsMessage = Napi::String::New(env, message);
  Napi::Object error;
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    error = data->errorClass.New({jsMessage});
    if (env.IsExceptionPending()) return Napi::Value();
  } else {
    error = Napi::Error::New(env, message).Value();
  }
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (env.IsExceptionPending()) return Napi::Value();
  return scope.Escape(error);
}

void ThrowTapError(Napi::Env env, const std::string& message, int err,
                   const char* syscall) {
  Napi::Value error = MakeTapError(env, message, err, syscall);
  if (error.IsEmpty()) return;  // an exception is already pending
  napi_throw(env, error);
}

void SetErrorClass(Napi::Env env, Napi::Function ctor) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr) return;
  data->errorClass = Napi::Persistent(ctor);
}

}  // namespace tap6

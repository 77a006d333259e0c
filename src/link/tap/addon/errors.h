// Error reporting for the TAP addon.
//
// Every failure reaches JavaScript as one error object (an instance of the
// TapError class registered by the TypeScript wrapper, or a plain Error if none
// was registered) carrying:
//   code    - the errno name, e.g. "EBUSY"
//   errno   - the positive Linux errno value, e.g. 16
//   syscall - what failed, e.g. "ioctl(TUNSETIFF)"
// The addon is built without C++ exceptions: helpers throw a pending JS
// exception and the caller returns immediately.
#pragma once

#include <napi.h>

#include <string>

namespace tap6 {

// "ENOENT" for ENOENT; "EUNKNOWN" for values outside the table.
const char* ErrnoName(int err);

// Short English description of an errno ("No such file or directory").
std::string ErrnoText(int err);

// Builds "<what>: <text> (<CODE>)" plus " — <hint>" when hint is non-empty.
std::string ErrnoMessage(const std::string& what, int err, const char* hint);

// Creates an error object (see above). May return an empty value if creating
// it failed, in which case a JS exception is already pending.
Napi::Value MakeTapError(Napi::Env env, const std::string& message, int err,
                         const char* syscall);

// Creates and throws an error object as a pending JS exception.
void ThrowTapError(Napi::Env env, const std::string& message, int err,
                   const char* syscall);

// Remembers the constructor used for error objects: new Ctor(message).
void SetErrorClass(Napi::Env env, Napi::Function ctor);

}  // namespace tap6

// Per-environment (per main thread / worker) state of the addon.
#pragma once

#include <napi.h>

namespace tap6 {

struct AddonData {
  // Constructor used for error objects (TapError from the wrapper).
  Napi::FunctionReference errorClass;
  // The Tap class, kept so that it is not collected while the env lives.
  Napi::FunctionReference tapClass;
};

}  // namespace tap6

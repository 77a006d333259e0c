// tap6_tap: the N-API addon behind src/link/tap/index.ts (the only module that
// loads it). Exports:
//   Tap                 class, see tap_device.h
//   setErrorClass(C)    error objects are created as new C(message)
//   probe()             0 if /dev/net/tun opens read-write, else the errno
//   constants           { metaWords, maxFrame, minFrame, readMax }
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <unistd.h>

#include "addon_data.h"
#include "errors.h"
#include "tap_device.h"

namespace tap6 {
namespace {

Napi::Value SetErrorClassJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "tap: setErrorClass needs a constructor")
        .ThrowAsJavaScriptException();
    return Napi::Value();
  }
  SetErrorClass(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int err = 0;
  if (fd < 0) {
    err = errno;
  } else {
    close(fd);
  }
  return Napi::Number::New(info.Env(), err);
}

Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  int err = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  return Napi::String::New(info.Env(), ErrnoName(err));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted with the env

  Napi::Function tapClass = TapDevice::DefineClass(env);
  if (env.IsExceptionPending()) return exports;
  data->tapClass = Napi::Persistent(tapClass);

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("metaWords", Napi::Number::New(env, kMetaWords));
  constants.Set("maxFrame", Napi::Number::New(env, static_cast<double>(kMaxFrame)));
  constants.Set("minFrame", Napi::Number::New(env, static_cast<double>(kMinFrame)));
  constants.Set("readMax", Napi::Number::New(env, static_cast<double>(kReadMax)));

  exports.Set("Tap", tapClass);
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClassJs, "setErrorClass"));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
  exports.Set("constants", constants);
  return exports;
}

}  // namespace
}  // namespace tap6

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return tap6::Init(env, exports);
}

NODE_API_MODULE(tap6_tap, InitModule)

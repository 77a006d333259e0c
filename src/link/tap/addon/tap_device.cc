#include "tap_device.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <type_traits>

#include "errors.h"
#include "netdev.h"

namespace tap6 {

namespace {

constexpr uint32_t kDefaultReadBatch = 64;
constexpr uint32_t kMaxReadBatch = 4096;
constexpr uint32_t kDefaultTxQueueFrames = 1024;
constexpr uint32_t kMaxTxQueueFrames = 1u << 20;
constexpr size_t kDefaultTxQueueBytes = 1u << 20;
constexpr size_t kMaxTxQueueBytes = 1u << 28;

bool IsIntegerIn(double d, double min, double max) {
  return isfinite(d) && floor(d) == d && d >= min && d <= max;
}

// Reads an optional non-negative integer option; false (with a JS exception
// pending) if present but invalid.
bool IntOption(Napi::Env env, Napi::Object opts, const char* key, double min,
               double max, double* out) {
  Napi::Value v = opts.Get(key);
  if (env.IsExceptionPending()) return false;
  if (v.IsUndefined() || v.IsNull()) return true;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!IsIntegerIn(d, min, max)) {
    std::string msg = std::string("tap: option ") + key +
                      " must be an integer in [" +
                      std::to_string(static_cast<int64_t>(min)) + ", " +
                      std::to_string(static_cast<int64_t>(max)) + "]";
    ThrowTapError(env, msg + " (EINVAL)", EINVAL, "open");
    return false;
  }
  *out = d;
  return true;
}

const char* OpenHint(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return "is the tun module loaded?";
    case EPERM:
    case EACCES:
      return "needs root or CAP_NET_ADMIN";
    default:
      return nullptr;
  }
}

const char* IoctlHint(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "needs root or CAP_NET_ADMIN";
    case ENODEV:
      return "the interface is not in this network namespace (moved with "
             "'ip link set ... netns'?) or was deleted";
    default:
      return nullptr;
  }
}

// Property of the JS object holding the error handler.
constexpr const char* kErrorHandlerKey = "__tap6ErrorHandler";

void ReleaseArrayBufferRef(Napi::Reference<Napi::ArrayBuffer>* ref) {
  if (!ref->IsEmpty()) ref->Reset();
}

}  // namespace

Napi::Function TapDevice::DefineClass(Napi::Env env) {
  return ObjectWrap<TapDevice>::DefineClass(
      env, "Tap",
      {
          InstanceMethod<&TapDevice::Name>("name"),
          InstanceMethod<&TapDevice::KernelMac>("kernelMac"),
          InstanceMethod<&TapDevice::Slab>("slab"),
          InstanceMethod<&TapDevice::Meta>("meta"),
          InstanceMethod<&TapDevice::GetMtu>("getMtu"),
          InstanceMethod<&TapDevice::SetMtu>("setMtu"),
          InstanceMethod<&TapDevice::IsUp>("isUp"),
          InstanceMethod<&TapDevice::SetUp>("setUp"),
          InstanceMethod<&TapDevice::StartReceive>("startReceive"),
          InstanceMethod<&TapDevice::StopReceive>("stopReceive"),
          InstanceMethod<&TapDevice::SetErrorHandler>("setErrorHandler"),
          InstanceMethod<&TapDevice::Write>("write"),
          InstanceMethod<&TapDevice::WriteBatch>("writeBatch"),
          InstanceMethod<&TapDevice::Stats>("stats"),
          InstanceMethod<&TapDevice::Close>("close"),
          InstanceMethod<&TapDevice::IsClosed>("isClosed"),
          InstanceMethod<&TapDevice::RefHandle>("ref"),
          InstanceMethod<&TapDevice::UnrefHandle>("unref"),
          InstanceMethod<&TapDevice::TestFailWrites>("testFailWrites"),
      });
}

// new Tap({ name?, readBatch?, txQueueFrames?, txQueueBytes?, vnetHdr? })
TapDevice::TapDevice(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<TapDevice>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  Napi::Object opts = info[0].IsObject() ? info[0].As<Napi::Object>()
                                         : Napi::Object::New(env);
  if (!info[0].IsObject() && !info[0].IsUndefined()) {
    Napi::TypeError::New(env, "tap: options must be an object")
        .ThrowAsJavaScriptException();
    return;
  }

  // Interface name.
  std::string name;
  Napi::Value nameValue = opts.Get("name");
  if (env.IsExceptionPending()) return;
  if (!nameValue.IsUndefined() && !nameValue.IsNull()) {
    if (!nameValue.IsString()) {
      Napi::TypeError::New(env, "tap: option name must be a string")
          .ThrowAsJavaScriptException();
      return;
    }
    name = nameValue.As<Napi::String>().Utf8Value();
  }
  const char* why = nullptr;
  if (ValidateIfName(name.c_str(), name.size(), &why) != 0) {
    ThrowTapError(env,
                  "tap: invalid interface name \"" + name + "\": " + why +
                      " (EINVAL)",
                  EINVAL, "ioctl(TUNSETIFF)");
    return;
  }

  // Sizes.
  double readBatch = kDefaultReadBatch;
  double txFrames = kDefaultTxQueueFrames;
  double txBytes = static_cast<double>(kDefaultTxQueueBytes);
  if (!IntOption(env, opts, "readBatch", 1, kMaxReadBatch, &readBatch) ||
      !IntOption(env, opts, "txQueueFrames", 0, kMaxTxQueueFrames, &txFrames) ||
      !IntOption(env, opts, "txQueueBytes", 0,
                 static_cast<double>(kMaxTxQueueBytes), &txBytes)) {
    return;
  }

  // Seam for virtio-net offloads (IFF_VNET_HDR + TUNSETOFFLOAD): the option is
  // part of the API so callers need not change when it is implemented.
  Napi::Value vnet = opts.Get("vnetHdr");
  if (env.IsExceptionPending()) return;
  if (vnet.ToBoolean().Value()) {
    ThrowTapError(env,
                  "tap: vnetHdr (IFF_VNET_HDR offloads) is not supported yet "
                  "(EOPNOTSUPP)",
                  EOPNOTSUPP, "open");
    return;
  }

  readBatch_ = static_cast<uint32_t>(readBatch);
  if (!txq_.Init(static_cast<uint32_t>(txFrames), static_cast<size_t>(txBytes))) {
    ThrowTapError(env, "tap: cannot allocate the transmit queue (ENOMEM)", ENOMEM,
                  "open");
    return;
  }

  // Receive slab and metadata, created once and shared with JS.
  size_t slabSize = static_cast<size_t>(readBatch_) * kSlabPerFrame + kReadMax;
  Napi::ArrayBuffer slab = Napi::ArrayBuffer::New(env, slabSize);
  if (env.IsExceptionPending()) return;
  Napi::ArrayBuffer meta = Napi::ArrayBuffer::New(
      env, static_cast<size_t>(readBatch_) * kMetaWords * sizeof(uint32_t));
  if (env.IsExceptionPending()) return;
  slabRef_ = Napi::Persistent(slab);
  metaRef_ = Napi::Persistent(meta);

  // The device.
  const char* step = nullptr;
  int err = OpenTap(name.c_str(), &fd_, name_, &step);
  if (err != 0) {
    const char* shown = name.empty() ? "tap%d" : name.c_str();
    std::string msg;
    if (strcmp(step, "open") == 0) {
      msg = ErrnoMessage("tap: cannot open /dev/net/tun", err, OpenHint(err));
    } else if (err == EBUSY) {
      msg = std::string("tap: ") + shown +
            " is busy (EBUSY) \u2014 another process holds it";
    } else if (err == EINVAL) {
      msg = ErrnoMessage(std::string("tap: TUNSETIFF ") + shown, err,
                         "an interface with this name exists and is not a "
                         "single-queue TAP");
    } else {
      msg = ErrnoMessage(std::string("tap: TUNSETIFF ") + shown, err,
                         OpenHint(err));
    }
    ThrowTapError(env, msg, err, step);
    return;
  }

  err = GetHwAddr(name_, mac_);
  if (err != 0) {
    ThrowIfError(env, "SIOCGIFHWADDR", err, "ioctl(SIOCGIFHWADDR)");
    return;
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    ThrowTapError(env, "tap: no libuv loop for this environment (EINVAL)",
                  EINVAL, "open");
    return;
  }
  box_ = new PollBox;
  int uverr = uv_poll_init(loop, &box_->handle, fd_);
  if (uverr != 0) {
    delete box_;
    box_ = nullptr;
    ThrowTapError(env, ErrnoMessage("tap: uv_poll_init", -uverr, nullptr),
                  -uverr, "uv_poll_init");
    return;
  }
  box_->owner = this;
  box_->handle.data = this;
  poll_ = &box_->handle;
  if (napi_add_async_cleanup_hook(env, CleanupHook, box_, &box_->hook) !=
      napi_ok) {
    box_->hook = nullptr;
    ThrowTapError(env, "tap: cannot register a cleanup hook (ENOMEM)", ENOMEM,
                  "open");
    return;
  }
}

TapDevice::~TapDevice() { CloseNow(CloseFrom::kFinalizer); }

// The environment is being torn down (process or worker exit) while the
// device is open or closing.
void TapDevice::CleanupHook(napi_async_cleanup_hook_handle, void* arg) {
  PollBox* box = static_cast<PollBox*>(arg);
  // If already closing, OnClosed will remove the hook and so complete it.
  if (box->owner != nullptr) box->owner->CloseNow(CloseFrom::kCleanupHook);
}

static_assert(std::is_standard_layout<PollBox>::value,
              "OnClosed casts the uv handle back to its PollBox");

void TapDevice::OnClosed(uv_handle_t* handle) {
  PollBox* box = reinterpret_cast<PollBox*>(handle);  // handle is the first member
  napi_async_cleanup_hook_handle hook = box->hook;
  delete box;
  if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
}

void TapDevice::CloseNow(CloseFrom from) {
  if (closed_) return;
  closed_ = true;
  rxActive_ = false;
  if (box_ != nullptr) {
    box_->owner = nullptr;
    box_->handle.data = nullptr;
    // uv_close stops the watcher at once (so closing the fd next is safe);
    // OnClosed frees the box when libuv is done with the handle.
    uv_close(reinterpret_cast<uv_handle_t*>(&box_->handle), OnClosed);
    box_ = nullptr;
    poll_ = nullptr;
  }
  pollEvents_ = 0;
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  txq_.Free();
  if (from == CloseFrom::kFinalizer) {
    // The references die with this object; the object is not pinned (a
    // pinned object is not collected) and drops its async context below.
    pinned_ = false;
  } else {
    Unpin();
    rxCallback_.Reset();
    ReleaseArrayBufferRef(&slabRef_);
    ReleaseArrayBufferRef(&metaRef_);
  }
  if (asyncContext_ != nullptr) {
    napi_async_destroy(env_, asyncContext_);
    asyncContext_ = nullptr;
  }
}

bool TapDevice::ThrowIfClosed(Napi::Env env) {
  if (!closed_) return false;
  ThrowTapError(env, "tap: device closed (EBADF)", EBADF, "tap");
  return true;
}

void TapDevice::ThrowIfError(Napi::Env env, const char* request, int err,
                             const char* syscall) {
  if (err == 0) return;
  ThrowTapError(env,
                ErrnoMessage(std::string("tap: ") + request + " " + name_, err,
                             IoctlHint(err)),
                err, syscall);
}

// ---- poll handle -----------------------------------------------------------

void TapDevice::Pin() {
  if (pinned_) return;
  Ref();
  pinned_ = true;
}

void TapDevice::Unpin() {
  if (!pinned_) return;
  Unref();
  pinned_ = false;
}

int TapDevice::UpdatePoll() {
  if (poll_ == nullptr) return 0;
  int want = (rxActive_ ? UV_READABLE : 0) | (txq_.Empty() ? 0 : UV_WRITABLE);
  if (want == pollEvents_) return 0;
  int err = 0;
  if (want == 0) {
    uv_poll_stop(poll_);
  } else {
    err = uv_poll_start(poll_, want, OnPoll);
    if (err != 0) {
      uv_poll_stop(poll_);
      want = 0;
    }
  }
  pollEvents_ = want;
  if (want != 0) {
    Pin();
  } else {
    Unpin();
  }
  return err;
}

napi_async_context TapDevice::AsyncContext() {
  if (asyncContext_ == nullptr) {
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    napi_value resourceName = Napi::String::New(env, "tap6.TapDevice");
    if (napi_async_init(env_, Value(), resourceName, &asyncContext_) != napi_ok) {
      asyncContext_ = nullptr;
    }
  }
  return asyncContext_;
}

void TapDevice::OnPoll(uv_poll_t* handle, int status, int events) {
  TapDevice* self = static_cast<TapDevice*>(handle->data);
  if (self == nullptr || self->closed_) return;
  if (status < 0) {
    self->OnPollError(status);
    return;
  }
  if ((events & UV_WRITABLE) != 0) self->Drain();
  if ((events & UV_READABLE) != 0 && !self->closed_ && self->rxActive_) {
    self->ReadBatch();
  }
}

// The fd reported an error (POLLERR: the device was deleted or the queue
// detached). libuv has already stopped the handle. Stop everything and tell JS.
void TapDevice::OnPollError(int status) {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Object self = Value();  // a handle keeps the object alive once unpinned
  pollEvents_ = 0;
  rxActive_ = false;
  uv_poll_stop(poll_);
  Unpin();
  counters_.rxErrors++;
  DropQueue();
  // Ask the fd what happened; POLLERR alone says only "error".
  int err = CheckAttached(fd_);
  std::string msg;
  const char* syscall = "ioctl(TUNGETIFF)";
  if (err == EBADFD) {
    msg = std::string("tap: ") + name_ +
          " was deleted (EBADFD) \u2014 receive stopped";
  } else {
    if (err == 0) {
      err = -status;
      syscall = "poll";
    }
    msg = ErrnoMessage(std::string("tap: ") + name_ + " reported an error", err,
                       "receive stopped");
  }
  Napi::Value error = MakeTapError(env, msg, err, syscall);
  if (!error.IsEmpty()) ReportError(self, error);
}

void TapDevice::ReportError(Napi::Object self, Napi::Value error) {
  Napi::Env env(env_);
  Napi::Value handler = self.Get(kErrorHandlerKey);
  if (env.IsExceptionPending() || !handler.IsFunction()) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    napi_fatal_exception(env_, error);
    return;
  }
  napi_value argv[1] = {error};
  napi_make_callback(env_, AsyncContext(), self, handler, 1, argv, nullptr);
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env_, e.Value());
  }
}

void TapDevice::ReadBatch() {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Object self = Value();  // a handle keeps the object alive once unpinned

  // Fetch the buffers each batch: JS could have detached (transferred) them.
  void* slabData = nullptr;
  size_t slabLen = 0;
  void* metaData = nullptr;
  size_t metaLen = 0;
  if (napi_get_arraybuffer_info(env_, slabRef_.Value(), &slabData, &slabLen) !=
          napi_ok ||
      napi_get_arraybuffer_info(env_, metaRef_.Value(), &metaData, &metaLen) !=
          napi_ok ||
      slabData == nullptr || metaData == nullptr ||
      metaLen < static_cast<size_t>(readBatch_) * kMetaWords * sizeof(uint32_t) ||
      slabLen < kReadMax) {
    rxActive_ = false;
    UpdatePoll();
    Napi::Value error = MakeTapError(
        env, "tap: receive buffers were detached; receive stopped (EFAULT)",
        EFAULT, "read");
    if (!error.IsEmpty()) ReportError(self, error);
    return;
  }
  uint8_t* slab = static_cast<uint8_t*>(slabData);
  uint32_t* meta = static_cast<uint32_t*>(metaData);

  uint32_t count = 0;
  size_t used = 0;
  int readErr = 0;
  // One read per iteration, at most readBatch_ of them, even if some are
  // dropped, so a misbehaving fd cannot keep us here.
  for (uint32_t attempt = 0; attempt < readBatch_; attempt++) {
    if (slabLen - used < kReadMax) break;
    ssize_t n = read(fd_, slab + used, kReadMax);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) readErr = errno;
      break;
    }
    if (static_cast<size_t>(n) >= kReadMax || n == 0) {
      counters_.rxTruncated++;
      continue;
    }
    uint32_t* m = meta + static_cast<size_t>(count) * kMetaWords;
    m[0] = static_cast<uint32_t>(used);
    m[1] = static_cast<uint32_t>(n);
    m[2] = 0;
    m[3] = 0;
    count++;
    counters_.rxBytes += static_cast<uint64_t>(n);
    used += (static_cast<size_t>(n) + 7) & ~static_cast<size_t>(7);
  }

  if (count > 0) {
    counters_.rxFrames += count;
    counters_.rxBatches++;
    if (!rxCallback_.IsEmpty()) {
      napi_value argv[1];
      napi_create_uint32(env_, count, &argv[0]);
      napi_make_callback(env_, AsyncContext(), self, rxCallback_.Value(), 1,
                         argv, nullptr);
      if (env.IsExceptionPending()) {
        Napi::Error e = env.GetAndClearPendingException();
        napi_fatal_exception(env_, e.Value());
      }
    }
  }

  if (readErr != 0 && !closed_) {
    counters_.rxErrors++;
    rxActive_ = false;
    UpdatePoll();
    Napi::Value error = MakeTapError(
        env,
        ErrnoMessage(std::string("tap: read ") + name_, readErr,
                     "receive stopped"),
        readErr, "read");
    if (!error.IsEmpty()) ReportError(self, error);
  }
}

// ---- transmit ----------------------------------------------------------------

int TapDevice::WriteFrame(const uint8_t* data, size_t len) {
  if (__builtin_expect(testFailWrites_ > 0, 0)) {
    testFailWrites_--;
    return EAGAIN;
  }
  for (;;) {
    ssize_t n = write(fd_, data, len);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

int TapDevice::Send(const uint8_t* data, size_t len) {
  if (txq_.Empty()) {
    int err = WriteFrame(data, len);
    if (err == 0) {
      counters_.txFrames++;
      counters_.txBytes += len;
      return 1;
    }
    if (err != EAGAIN) {
      counters_.txErrors++;
      counters_.txLastErrno = err;
      return -1;
    }
  }
  if (!txq_.Push(data, len)) {
    counters_.txDropped++;
    return 0;
  }
  counters_.txQueued++;
  if ((pollEvents_ & UV_WRITABLE) == 0 && UpdatePoll() != 0) {
    // Without a writable watcher the queue would never drain.
    DropQueue();
    return 0;
  }
  return 2;
}

void TapDevice::Drain() {
  while (!txq_.Empty()) {
    size_t len = txq_.FrontLength();
    int err = WriteFrame(txq_.FrontData(), len);
    if (err == EAGAIN) break;
    if (err == 0) {
      counters_.txFrames++;
      counters_.txBytes += len;
    } else {
      counters_.txErrors++;
      counters_.txLastErrno = err;
    }
    txq_.Pop();
  }
  if (UpdatePoll() != 0) DropQueue();
}

void TapDevice::DropQueue() {
  counters_.txDropped += txq_.Count();
  txq_.Clear();
}

// ---- JS methods --------------------------------------------------------------

Napi::Value TapDevice::Name(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), name_);
}

Napi::Value TapDevice::KernelMac(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), sizeof mac_);
  if (info.Env().IsExceptionPending()) return Napi::Value();
  memcpy(ab.Data(), mac_, sizeof mac_);
  return ab;
}

Napi::Value TapDevice::Slab(const Napi::CallbackInfo& info) {
  if (ThrowIfClosed(info.Env())) return Napi::Value();
  return slabRef_.Value();
}

Napi::Value TapDevice::Meta(const Napi::CallbackInfo& info) {
  if (ThrowIfClosed(info.Env())) return Napi::Value();
  return metaRef_.Value();
}

Napi::Value TapDevice::GetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  int mtu = 0;
  int err = tap6::GetMtu(name_, &mtu);
  if (err != 0) {
    ThrowIfError(env, "SIOCGIFMTU", err, "ioctl(SIOCGIFMTU)");
    return Napi::Value();
  }
  return Napi::Number::New(env, mtu);
}

Napi::Value TapDevice::SetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  double d = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : NAN;
  if (!IsIntegerIn(d, 0, INT_MAX)) {
    ThrowTapError(env, "tap: MTU must be a non-negative integer (EINVAL)", EINVAL,
                  "ioctl(SIOCSIFMTU)");
    return Napi::Value();
  }
  int err = tap6::SetMtu(name_, static_cast<int>(d));
  if (err == EINVAL) {
    ThrowTapError(env,
                  ErrnoMessage(std::string("tap: SIOCSIFMTU ") + name_ + " " +
                                   std::to_string(static_cast<int64_t>(d)),
                               err, "MTU out of range for this device"),
                  err, "ioctl(SIOCSIFMTU)");
    return Napi::Value();
  }
  ThrowIfError(env, "SIOCSIFMTU", err, "ioctl(SIOCSIFMTU)");
  return env.Undefined();
}

Napi::Value TapDevice::IsUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  bool up = false;
  int err = tap6::GetUp(name_, &up);
  if (err != 0) {
    ThrowIfError(env, "SIOCGIFFLAGS", err, "ioctl(SIOCGIFFLAGS)");
    return Napi::Value();
  }
  return Napi::Boolean::New(env, up);
}

Napi::Value TapDevice::SetUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  int err = tap6::SetUp(name_, info[0].ToBoolean().Value());
  ThrowIfError(env, "SIOCSIFFLAGS", err, "ioctl(SIOCSIFFLAGS)");
  return env.Undefined();
}

Napi::Value TapDevice::StartReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "tap: startReceive needs a function")
        .ThrowAsJavaScriptException();
    return Napi::Value();
  }
  rxCallback_ = Napi::Persistent(info[0].As<Napi::Function>());
  rxActive_ = true;
  int err = UpdatePoll();
  if (err != 0) {
    rxActive_ = false;
    rxCallback_.Reset();
    ThrowTapError(env, ErrnoMessage("tap: uv_poll_start", -err, nullptr), -err,
                  "uv_poll_start");
    return Napi::Value();
  }
  return env.Undefined();
}

Napi::Value TapDevice::StopReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  rxActive_ = false;
  if (UpdatePoll() != 0) DropQueue();
  rxCallback_.Reset();
  return env.Undefined();
}

Napi::Value TapDevice::SetErrorHandler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  // Kept as a property of this object rather than a persistent reference, so
  // a handler that closes over the object's owner does not keep it alive.
  info.This().As<Napi::Object>().Set(
      kErrorHandlerKey, info[0].IsFunction() ? info[0] : env.Undefined());
  return env.Undefined();
}

// write(frame: Uint8Array): 1 written, 2 queued, 0 dropped, -1 error.
Napi::Value TapDevice::Write(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (closed_) {
    ThrowIfClosed(info.Env());
    return Napi::Value();
  }
  napi_typedarray_type type;
  size_t len = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, info[0], &type, &len, &data, nullptr,
                               nullptr) != napi_ok ||
      type != napi_uint8_array) {
    Napi::TypeError::New(info.Env(), "tap: write needs a Uint8Array")
        .ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (len < kMinFrame || len > kMaxFrame || data == nullptr) {
    ThrowTapError(info.Env(),
                  "tap: frame length " + std::to_string(len) +
                      " outside [14, 65553] (EINVAL)",
                  EINVAL, "write");
    return Napi::Value();
  }
  napi_value result;
  napi_create_int32(env, Send(static_cast<const uint8_t*>(data), len), &result);
  return Napi::Value(env, result);
}

// writeBatch(frames: Uint8Array[]): number of frames written or queued.
Napi::Value TapDevice::WriteBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (ThrowIfClosed(info.Env())) return Napi::Value();
  bool isArray = false;
  uint32_t n = 0;
  if (napi_is_array(env, info[0], &isArray) != napi_ok || !isArray ||
      napi_get_array_length(env, info[0], &n) != napi_ok) {
    Napi::TypeError::New(info.Env(), "tap: writeBatch needs an array")
        .ThrowAsJavaScriptException();
    return Napi::Value();
  }
  uint32_t accepted = 0;
  for (uint32_t i = 0; i < n && !closed_; i++) {
    Napi::HandleScope scope(info.Env());
    napi_value element;
    napi_typedarray_type type;
    size_t len = 0;
    void* data = nullptr;
    if (napi_get_element(env, info[0], i, &element) != napi_ok ||
        napi_get_typedarray_info(env, element, &type, &len, &data, nullptr,
                                 nullptr) != napi_ok ||
        type != napi_uint8_array) {
      Napi::TypeError::New(info.Env(), "tap: writeBatch element " +
                                           std::to_string(i) +
                                           " is not a Uint8Array")
          .ThrowAsJavaScriptException();
      return Napi::Value();
    }
    if (len < kMinFrame || len > kMaxFrame || data == nullptr) {
      ThrowTapError(info.Env(),
                    "tap: writeBatch element " + std::to_string(i) +
                        ": frame length " + std::to_string(len) +
                        " outside [14, 65553] (EINVAL)",
                    EINVAL, "write");
      return Napi::Value();
    }
    if (Send(static_cast<const uint8_t*>(data), len) > 0) accepted++;
  }
  return Napi::Number::New(info.Env(), accepted);
}

Napi::Value TapDevice::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfClosed(env)) return Napi::Value();
  Napi::Object o = Napi::Object::New(env);
  const TapCounters& c = counters_;
  o.Set("rxFrames", Napi::Number::New(env, static_cast<double>(c.rxFrames)));
  o.Set("rxBytes", Napi::Number::New(env, static_cast<double>(c.rxBytes)));
  o.Set("rxBatches", Napi::Number::New(env, static_cast<double>(c.rxBatches)));
  o.Set("rxErrors", Napi::Number::New(env, static_cast<double>(c.rxErrors)));
  o.Set("rxTruncated", Napi::Number::New(env, static_cast<double>(c.rxTruncated)));
  o.Set("txFrames", Napi::Number::New(env, static_cast<double>(c.txFrames)));
  o.Set("txBytes", Napi::Number::New(env, static_cast<double>(c.txBytes)));
  o.Set("txQueued", Napi::Number::New(env, static_cast<double>(c.txQueued)));
  o.Set("txDropped", Napi::Number::New(env, static_cast<double>(c.txDropped)));
  o.Set("txErrors", Napi::Number::New(env, static_cast<double>(c.txErrors)));
  o.Set("txLastErrno", Napi::Number::New(env, c.txLastErrno));
  o.Set("txQueueDepth", Napi::Number::New(env, txq_.Count()));
  o.Set("txQueueBytes",
        Napi::Number::New(env, static_cast<double>(txq_.FrameBytes())));
  return o;
}

Napi::Value TapDevice::Close(const Napi::CallbackInfo& info) {
  CloseNow(CloseFrom::kJs);
  return info.Env().Undefined();
}

Napi::Value TapDevice::IsClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}

Napi::Value TapDevice::RefHandle(const Napi::CallbackInfo& info) {
  if (ThrowIfClosed(info.Env())) return Napi::Value();
  uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value TapDevice::UnrefHandle(const Napi::CallbackInfo& info) {
  if (ThrowIfClosed(info.Env())) return Napi::Value();
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

// Test hook: the next n write(2) attempts report EAGAIN without calling the
// kernel, so tests can exercise the queue when the kernel will not push back.
Napi::Value TapDevice::TestFailWrites(const Napi::CallbackInfo& info) {
  if (ThrowIfClosed(info.Env())) return Napi::Value();
  testFailWrites_ = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  return info.Env().Undefined();
}

}  // namespace tap6

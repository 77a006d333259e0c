// TapDevice: one TAP file descriptor, watched by libuv on the Node loop.
//
// Receive: when the fd is readable, up to `readBatch` frames are read into one
// slab allocated at open (an ArrayBuffer shared with JS) and described in one
// metadata array (another ArrayBuffer, kMetaWords uint32 per frame); then the
// JS receive callback is called once with the frame count. Nothing is
// allocated per frame or per batch. The slab is rewritten by the next batch,
// so its contents are valid only during the callback.
//
// Transmit: write() tries write(2) at once when nothing is queued; on EAGAIN
// the frame is copied into a bounded queue (TxQueue) and the fd is watched for
// writability until the queue drains. A full queue drops and counts.
//
// Lifetime: close() (or the env cleanup hook, or garbage collection of an
// idle device) stops the poll handle, closes the fd and frees the buffers.
// While the poll handle is active the JS object is kept alive, like a libuv
// handle, so a device that is receiving is never collected behind the user's
// back.
#pragma once

#include <napi.h>
#include <net/if.h>
#include <uv.h>

#include <stdint.h>

#include "txqueue.h"

namespace tap6 {

// Per-frame metadata in the meta array: uint32 words per frame.
//   [0] byte offset of the frame in the slab
//   [1] frame length in bytes (Ethernet header included)
//   [2] offload info, reserved for IFF_VNET_HDR (virtio-net header flags,
//       gso_type, gso_size); always 0 today
//   [3] offload info, reserved (csum_start, csum_offset); always 0 today
constexpr uint32_t kMetaWords = 4;

// Largest frame accepted by write(): 65535-byte MTU + Ethernet + VLAN tag.
constexpr size_t kMaxFrame = 65535 + 14 + 4;
// Smallest frame accepted by write(): an Ethernet header.
constexpr size_t kMinFrame = 14;
// Buffer offered to each read(2): the largest frame plus room for a future
// virtio-net header, rounded up. A read that fills it was truncated.
constexpr size_t kReadMax = 65568;
// Slab bytes budgeted per frame of a batch (on top of one kReadMax).
constexpr size_t kSlabPerFrame = 2048;

struct TapCounters {
  uint64_t rxFrames = 0;
  uint64_t rxBytes = 0;
  uint64_t rxBatches = 0;
  uint64_t rxErrors = 0;
  uint64_t rxTruncated = 0;
  uint64_t txFrames = 0;
  uint64_t txBytes = 0;
  uint64_t txQueued = 0;
  uint64_t txDropped = 0;
  uint64_t txErrors = 0;
  int txLastErrno = 0;  // errno of the most recent failed write, 0 if none
};

class TapDevice;

// The libuv poll handle and what must outlive the TapDevice until libuv has
// finished closing it. The close callback frees it and removes the async
// cleanup hook; until then the hook keeps the environment (and this addon's
// code, which the close callback lives in) from being torn down, e.g. when a
// worker thread exits.
struct PollBox {
  uv_poll_t handle;  // first member: OnClosed casts the handle back
  napi_async_cleanup_hook_handle hook = nullptr;
  TapDevice* owner = nullptr;  // null once closing
};

class TapDevice : public Napi::ObjectWrap<TapDevice> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  explicit TapDevice(const Napi::CallbackInfo& info);
  ~TapDevice() override;

 private:
  enum class CloseFrom { kJs, kCleanupHook, kFinalizer };

  // JS methods.
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value KernelMac(const Napi::CallbackInfo& info);
  Napi::Value Slab(const Napi::CallbackInfo& info);
  Napi::Value Meta(const Napi::CallbackInfo& info);
  Napi::Value GetMtu(const Napi::CallbackInfo& info);
  Napi::Value SetMtu(const Napi::CallbackInfo& info);
  Napi::Value IsUp(const Napi::CallbackInfo& info);
  Napi::Value SetUp(const Napi::CallbackInfo& info);
  Napi::Value StartReceive(const Napi::CallbackInfo& info);
  Napi::Value StopReceive(const Napi::CallbackInfo& info);
  Napi::Value SetErrorHandler(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteBatch(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);
  Napi::Value RefHandle(const Napi::CallbackInfo& info);
  Napi::Value UnrefHandle(const Napi::CallbackInfo& info);
  Napi::Value TestFailWrites(const Napi::CallbackInfo& info);

  // Throws "device closed" (EBADF) and returns true if closed.
  bool ThrowIfClosed(Napi::Env env);
  // Throws an error for a failed interface ioctl.
  void ThrowIfError(Napi::Env env, const char* request, int err,
                    const char* syscall);

  void CloseNow(CloseFrom from);
  static void CleanupHook(napi_async_cleanup_hook_handle handle, void* arg);
  static void OnClosed(uv_handle_t* handle);

  // Starts/stops/updates the poll handle to match what is wanted (readable
  // while receiving, writable while frames are queued). Returns 0 or a libuv
  // error; on error the handle is left stopped.
  int UpdatePoll();
  void Pin();
  void Unpin();
  napi_async_context AsyncContext();

  static void OnPoll(uv_poll_t* handle, int status, int events);
  void OnPollError(int status);
  void ReadBatch();
  void Drain();
  void ReportError(Napi::Object self, Napi::Value error);

  // 1 written, 2 queued, 0 dropped (queue full), -1 error (counted).
  int Send(const uint8_t* data, size_t len);
  // write(2) of one frame; 0 or errno.
  int WriteFrame(const uint8_t* data, size_t len);
  void DropQueue();

  napi_env env_;
  int fd_ = -1;
  char name_[IFNAMSIZ] = {0};
  uint8_t mac_[6] = {0};
  bool closed_ = false;
  bool pinned_ = false;

  PollBox* box_ = nullptr;
  uv_poll_t* poll_ = nullptr;  // &box_->handle while open
  int pollEvents_ = 0;

  // Receive.
  bool rxActive_ = false;
  uint32_t readBatch_ = 64;
  Napi::Reference<Napi::ArrayBuffer> slabRef_;
  Napi::Reference<Napi::ArrayBuffer> metaRef_;
  uint32_t* meta_ = nullptr;  // lives as long as metaRef_ (never detached by us)
  Napi::FunctionReference rxCallback_;
  napi_async_context asyncContext_ = nullptr;

  // Transmit.
  TxQueue txq_;
  uint32_t testFailWrites_ = 0;

  TapCounters counters_;
};

}  // namespace tap6

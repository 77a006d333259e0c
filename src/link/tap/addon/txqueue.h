// Bounded FIFO of frames waiting for the TAP fd to become writable.
//
// Frames are copied into one byte ring allocated at construction; a second
// ring records (offset, length) per frame. Both bounds (frames and bytes) are
// fixed, nothing is allocated after Init(). A frame is stored contiguously: if
// it does not fit between the write position and the end of the ring, it is
// placed at the start (the skipped tail is counted as used until the frames
// before it are gone). Frames are never empty (the caller guarantees it),
// which keeps "write position == oldest frame" unambiguous: with frames
// queued, the ring has wrapped exactly when writePos <= the oldest offset.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

namespace tap6 {

class TxQueue {
 public:
  TxQueue() = default;
  TxQueue(const TxQueue&) = delete;
  TxQueue& operator=(const TxQueue&) = delete;
  ~TxQueue() { Free(); }

  // Allocates the rings. Zero frames or zero bytes make a queue that accepts
  // nothing. Returns false if memory could not be allocated.
  bool Init(uint32_t maxFrames, size_t maxBytes) {
    Free();
    if (maxFrames == 0 || maxBytes == 0) return true;
    bytes_ = static_cast<uint8_t*>(malloc(maxBytes));
    entries_ = static_cast<Entry*>(malloc(sizeof(Entry) * maxFrames));
    if (bytes_ == nullptr || entries_ == nullptr) {
      Free();
      return false;
    }
    capBytes_ = maxBytes;
    capFrames_ = maxFrames;
    return true;
  }

  void Free() {
    free(bytes_);
    free(entries_);
    bytes_ = nullptr;
    entries_ = nullptr;
    capBytes_ = 0;
    capFrames_ = 0;
    Clear();
  }

  void Clear() {
    head_ = 0;
    count_ = 0;
    writePos_ = 0;
    frameBytes_ = 0;
  }

  uint32_t Count() const { return count_; }
  bool Empty() const { return count_ == 0; }
  size_t FrameBytes() const { return frameBytes_; }

  // Copies a frame in. Returns false (nothing stored) if either bound would
  // be exceeded. len must be > 0.
  bool Push(const uint8_t* data, size_t len) {
    if (count_ == capFrames_ || len > capBytes_) return false;
    size_t at;
    if (count_ == 0) {
      at = 0;
    } else {
      size_t oldest = entries_[head_].offset;
      if (writePos_ > oldest) {  // not wrapped: free space at the end, then the start
        if (capBytes_ - writePos_ >= len) {
          at = writePos_;
        } else if (oldest >= len) {
          at = 0;
        } else {
          return false;
        }
      } else {  // wrapped: free space between writePos_ and the oldest frame
        if (oldest - writePos_ >= len) {
          at = writePos_;
        } else {
          return false;
        }
      }
    }
    memcpy(bytes_ + at, data, len);
    uint32_t tail = head_ + count_;
    if (tail >= capFrames_) tail -= capFrames_;
    entries_[tail].offset = at;
    entries_[tail].length = len;
    count_++;
    writePos_ = at + len;
    frameBytes_ += len;
    return true;
  }

  // The oldest frame; only valid when !Empty().
  const uint8_t* FrontData() const { return bytes_ + entries_[head_].offset; }
  size_t FrontLength() const { return entries_[head_].length; }

  void Pop() {
    frameBytes_ -= entries_[head_].length;
    head_++;
    if (head_ == capFrames_) head_ = 0;
    count_--;
    if (count_ == 0) {
      head_ = 0;
      writePos_ = 0;
    }
  }

 private:
  struct Entry {
    size_t offset;
    size_t length;
  };

  uint8_t* bytes_ = nullptr;
  Entry* entries_ = nullptr;
  size_t capBytes_ = 0;
  uint32_t capFrames_ = 0;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  size_t writePos_ = 0;
  size_t frameBytes_ = 0;
};

}  // namespace tap6

// The frame ring's seqlock, in C11 atomics (see Sources/Bus/FrameRing.swift).
//
// Swift's `Synchronization.Atomic` is a value that must live in Swift-managed memory; it cannot
// be placed over bytes of a file mapped with mmap and shared with another process. These
// `static inline` helpers give Swift acquire/release access to a `uint64_t` at any suitably
// aligned address, including a MAP_SHARED mapping. Lock-free 64-bit atomics on the platforms
// Aperture runs on (x86_64, aarch64) are address-free, so they order memory across processes as
// they do across threads (C11 7.17.5, note on lock-free atomics).
#ifndef APERTURE_CFRAMERING_H
#define APERTURE_CFRAMERING_H

#include <stdatomic.h>
#include <stdint.h>

#if defined(__STDC_NO_ATOMICS__)
#error "CFrameRing needs C11 atomics"
#endif

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free to be shared between processes");

/// Loads the 64-bit word at `address` with acquire ordering: the reads that follow (a slot's
/// header and pixels) cannot move before it. `address` may point into read-only memory.
static inline uint64_t aperture_ring_load_acquire(const uint64_t *address) {
    return atomic_load_explicit((const _Atomic uint64_t *)address, memory_order_acquire);
}

/// Loads the 64-bit word at `address` with no ordering of its own (used after an acquire fence).
static inline uint64_t aperture_ring_load_relaxed(const uint64_t *address) {
    return atomic_load_explicit((const _Atomic uint64_t *)address, memory_order_relaxed);
}

/// Stores `value` at `address` with release ordering: the writes before it (a slot's header
/// and pixels) are visible to a reader that loads `value` with acquire ordering.
static inline void aperture_ring_store_release(uint64_t *address, uint64_t value) {
    atomic_store_explicit((_Atomic uint64_t *)address, value, memory_order_release);
}

/// Stores `value` at `address` with no ordering of its own (the writer marks a slot odd this
/// way, then issues a release fence before touching the slot's contents).
static inline void aperture_ring_store_relaxed(uint64_t *address, uint64_t value) {
    atomic_store_explicit((_Atomic uint64_t *)address, value, memory_order_relaxed);
}

/// A release fence: no earlier load or store may be reordered after a later store. The writer
/// issues it between marking a slot odd and copying into it.
static inline void aperture_ring_fence_release(void) {
    atomic_thread_fence(memory_order_release);
}

/// An acquire fence: no later load or store may be reordered before an earlier load. The reader
/// issues it between copying out of a slot and loading the slot's sequence a second time.
static inline void aperture_ring_fence_acquire(void) {
    atomic_thread_fence(memory_order_acquire);
}

#endif

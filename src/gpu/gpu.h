/* GPUs behind one interface: inventory, placement of GPU-memory slices,
 * usage, and checkpoint/restore of an instance's GPU state (idle mode).
 *
 * Backends: "sim" (declared devices, honest accounting, modelled copy time;
 * everything it reports says "simulated") and "none". The NVIDIA backend
 * (NVML + cuCheckpointProcess*, loaded with dlopen) implements the same
 * calls later; the ordering rules of GPU-NOTES.md hold for every backend:
 * freeze = lock → checkpoint → cgroup freeze; thaw = cgroup thaw → restore →
 * unlock. Placement accounting is backend-independent (gpu.c).
 *
 * Loop thread only, except gpu_checkpoint/gpu_restore, whose blocking work
 * runs on the thread pool and reports back on the loop. */
#ifndef FROST_GPU_GPU_H
#define FROST_GPU_GPU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "base/err.h"
#include "base/util.h"

#define GPU_MAX_DEVICES 64

struct gpu_device {
    int index;
    char uuid[64];        /* "GPU-…" (sim: "GPU-sim-…") */
    char name[64];        /* "Tesla T4 (simulated)" */
    char type[32];        /* "T4", "A10", … the class gpuType maps to */
    uint64_t memory_mb;   /* total */
    uint64_t reserved_mb; /* held by placements */
    bool simulated;
};

struct gpu;           /* one node's GPUs and their backend */
struct gpu_placement; /* a slice of one device held by an instance */

struct gpu_opts {
    uv_loop_t *loop;
    /* "sim:2x24GB", "sim:1xT4-16GB,1xA10-24GB", "none", or "" (= none). */
    const char *spec;
    /* Host↔device copy bandwidth the sim backend models, bytes/s (0 = 25 GB/s). */
    uint64_t sim_bandwidth;
    /* Most whole cards in use at once across the node (FC's regional quota;
     * seed 004 says 30). A slice counts as a card while it holds any of one.
     * 0 = no quota. */
    unsigned card_quota;
    /* "fc.gpu.tesla.1=T4,fc.gpu.ampere.1=A10,…": FC gpuType → device type.
     * NULL or "" = the built-in mapping (see docs/gpu.md). */
    const char *type_map;
};

/* Errors: 400 "InvalidConfig" naming the bad part of spec or type_map. */
FROST_WUR int gpu_new(const struct gpu_opts *o, struct gpu **out, struct frost_err *err);
/* Precondition: no checkpoint/restore in flight (run the loop until every
 * done has fired); asserted. Placements still held are the caller's to
 * release first. NULL is fine. */
void gpu_free(struct gpu *g);

/* "sim", "none". */
const char *gpu_backend(const struct gpu *g);
/* Whether checkpoint/restore work is still in flight (run the loop until it
 * is not before gpu_free). NULL: false. */
bool gpu_busy(const struct gpu *g);
size_t gpu_count(const struct gpu *g);
const struct gpu_device *gpu_device(const struct gpu *g, size_t i);

/* Places memory_mb of a device whose type matches fc_gpu_type (best fit: the
 * device with the least free memory that still fits; whole-card types take
 * a whole free card). Fails with 503 "ResourceExhausted" and a message a
 * user can act on ("no T4 GPU with 16384 MB free: 2 devices, largest free
 * 8192 MB") when nothing fits or the card quota is reached; 400 when no
 * device of the type exists at all. Never over-commits. */
FROST_WUR int gpu_place(struct gpu *g, const char *fc_gpu_type, uint64_t memory_mb,
                        struct gpu_placement **out, struct frost_err *err);
/* Gives the slice back. NULL is fine. During a checkpoint/restore the release
 * is finished when the work reports back, and done is then not called. */
void gpu_release(struct gpu *g, struct gpu_placement *p);

const struct gpu_device *gpu_placement_device(const struct gpu_placement *p);
uint64_t gpu_placement_mb(const struct gpu_placement *p);

/* Environment for an instance holding p: NULL-terminated "K=V" strings
 * (CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES by UUID, FROST_GPU_MEMORY_MB,
 * FROST_GPU_SIMULATED=1 on sim). Owned by p; valid until it is released. */
char *const *gpu_placement_env(const struct gpu_placement *p);

/* Idle mode. Checkpoint moves the instance's GPU state (its pid's) to host
 * memory and gives its device memory back to the pool (the placement stays,
 * holding 0 MB on the device); restore takes device memory again — on the
 * same device, or another of the same type when that one is full — and puts
 * the state back. done runs on the loop with status 0 or < 0 (err says why;
 * a failed restore leaves the instance unusable: replace it). The sim backend
 * sleeps the modelled copy time on the thread pool.
 * A second call while one is in flight, checkpointing a checkpointed
 * placement or restoring a running one fails with 409 "Conflict" through
 * done before the call returns; so does a restore with no room (503
 * "ResourceExhausted", placement stays checkpointed) — restore reserves the
 * device memory before copying, since a restore that runs out of memory can
 * wedge the process. p NULL (instance without GPU): done(NULL, 0, NULL, ud)
 * at once. Restore may move p to another device: re-read its device and env. */
typedef void (*gpu_done_fn)(struct gpu_placement *p, int status, const struct frost_err *err,
                            void *ud);
void gpu_checkpoint(struct gpu *g, struct gpu_placement *p, pid_t pid, gpu_done_fn done, void *ud);
void gpu_restore(struct gpu *g, struct gpu_placement *p, pid_t pid, gpu_done_fn done, void *ud);
bool gpu_placement_checkpointed(const struct gpu_placement *p);
/* Whether gpu_restore of p would find device memory now (true when p is NULL
 * or not checkpointed). Lets a caller wait instead of thawing in vain. */
bool gpu_restore_fits(const struct gpu *g, const struct gpu_placement *p);
/* GPU memory the instance's processes actually use on p's device (what
 * GPUMemUtilization tracks), or -1 when the backend cannot tell. The NVIDIA
 * backend reads it from NVML's per-process accounting; the sim backend cannot
 * see what a process allocates and says so (-1), so GPUMemUtilization
 * policies hold their target on simulated GPUs. */
int gpu_placement_used_mb(const struct gpu *g, const struct gpu_placement *p, uint64_t *out);
/* Modelled host<->device copy time of p's last checkpoint or restore, in ns
 * (sim: slice bytes / sim_bandwidth); 0 before the first one. */
uint64_t gpu_placement_copy_ns(const struct gpu_placement *p);

struct gpu_usage {
    uint64_t memory_mb, reserved_mb; /* over all devices */
    unsigned cards_in_use;           /* devices with any reservation */
    unsigned card_quota;
};
void gpu_usage(const struct gpu *g, struct gpu_usage *out);

#endif

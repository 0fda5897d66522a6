#!/usr/bin/env bash
# Build `miner` with candle's CUDA backend on a machine without a GPU or a CUDA
# install, for an H100/H200 (sm_90) with driver 580 / CUDA 13.
#
#   scripts/build-cuda.sh            # -> target/cuda/release/miner
#
# The CUDA 13.0 toolchain and link-time libraries come from PyPI's nvidia-*
# wheels (about 1.2 GB, cached in $CUDA_ROOT, default ~/.cache/model-bounties-cuda);
# the driver library is a link-time stub with SONAME libcuda.so.1, so the binary
# loads the real driver on the GPU machine. There, point LD_LIBRARY_PATH at the
# CUDA 13 runtime and cuBLAS (PyTorch's install has them) and check with
# `ldd target/cuda/release/miner | grep 'not found'`. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${CUDA_ROOT:-$HOME/.cache/model-bounties-cuda}
mkdir -p "$ROOT"

if [ ! -x "$ROOT/venv/bin/pip" ]; then python3 -m venv "$ROOT/venv"; fi
"$ROOT/venv/bin/pip" install -q --no-deps \
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 \
  nvidia-cuda-nvrtc==13.0.88 nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
CU=$(echo "$ROOT"/venv/lib/python3*/site-packages/nvidia/cu13)
"$CU/bin/nvcc" --version | tail -1

# Unversioned names for the linker.
for f in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
  ln -sf "$f" "$CU/lib/${f%%.so*}.so"
done

# A stub libcuda.so from the driver functions cudarc declares; it must exist
# before cudarc's build script runs, which adds lib/stubs only if present.
cargo fetch --locked -q
DRV=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10/src/driver/sys/mod.rs | head -1)
mkdir -p "$CU/lib/stubs"
grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$DRV" | awk '{print $4}' | sort -u \
  | sed 's/.*/int &(void) { return 999; }/' > "$ROOT/libcuda_stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CU/lib/stubs/libcuda.so" "$ROOT/libcuda_stub.c"

export CUDA_HOME="$CU" PATH="$CU/bin:$PATH" CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-2}
cargo build --locked --release -p miner --features cuda --target-dir target/cuda
ls -la target/cuda/release/miner

#!/usr/bin/env bash
# Builds llama.cpp's shared libraries (libllama + ggml) for molora from pinned source, with native-build/patches/ applied.
#
#   native-build/build.sh [--cuda] [--cuda-arch LIST|native] [--backend-dl] [--avx2] [--print-dir] [--quiet]
#
# --cuda builds the CUDA backend for common consumer cards (75;86;89;120 + PTX); --cuda-arch native builds only for the
# card in this machine (much faster), or give a CMake list such as "86;89". CPU and CUDA builds are cached side by
# side; MOLORA_NATIVE_BUILD_FLAGS=--cuda makes ./molora and ./run-tests use the CUDA one. A CUDA build has its backends
# as loadable modules, chosen at run time as llama.cpp's ggml_backend_load_all does (a CPU module per x86 level, so
# it also runs, on the CPU, where there is no GPU or no driver); --backend-dl builds the CPU build that way too.
# --avx2 builds the CPU backend for AVX2 at most (no AVX-512, whatever this CPU has), so that a machine with AVX-512
# can run the suite as an AVX2-only machine computes: MOLORA_NATIVE_BUILD_FLAGS=--avx2 ./run-tests.
#
# Source: llama.cpp v0.5.0 as shipped (a git bundle) in the npm package node-llama-cpp@3.22.1, verified against the
# registry's published sha512 integrity before use. Set MOLORA_LLAMA_CPP_DIR to build an existing llama.cpp checkout
# (another version) instead; patches are still applied to a copy of it.
#
# Output: a directory under $MOLORA_CACHE (default ~/.cache/molora) keyed by source version + patch hashes + backend +
# recipe version, so a second run is instant and a changed patch rebuilds. It holds
#   lib/   libllama.so, libggml*.so (RPATH $ORIGIN)     src/   the patched source tree (vocab GGUFs, gguf-py)
#   bin/   llama-simple (llama.cpp's examples/simple, the parity oracle), llama-perplexity (tools/perplexity, the
#          oracle of `molora perplexity`), molora-decode-loop (bench/decode_loop.cpp), and in CUDA / --backend-dl
#          builds the backend modules
# The last line printed is that directory; with --print-dir only the directory is printed (building if needed).
set -euo pipefail

NPM_PACKAGE="node-llama-cpp@3.22.1"
NPM_INTEGRITY="sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw=="
LLAMA_VERSION="v0.5.0"
# Bump when the build recipe below changes in a way that changes the libraries (it is part of the cache key).
RECIPE_VERSION=3

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MOLORA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/molora}"
cuda=0
# Common consumer cards: Turing (75), Ampere (86), Ada (89), Blackwell (120, with its PTX so newer cards JIT-compile).
cuda_arch="${CMAKE_CUDA_ARCHITECTURES:-75-real;86-real;89-real;120}"
print_dir=0
quiet=0
backend_dl=0
avx2=0

while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) cuda=1 ;;
    --cuda-arch) cuda=1; cuda_arch="${2:?--cuda-arch needs a value: native or a list such as 86;89}"; shift ;;
    --backend-dl) backend_dl=1 ;;
    --avx2) avx2=1 ;;
    --print-dir) print_dir=1; quiet=1 ;;
    --quiet) quiet=1 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "native-build: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { [ "$quiet" = 1 ] || echo "native-build: $*" >&2; }
die() { echo "native-build: $*" >&2; exit 1; }

# git unpacks the bundled source and applies the patches; with MOLORA_LLAMA_CPP_DIR, patch(1) can stand in for it.
tools=(cmake sha256sum); [ -z "${MOLORA_LLAMA_CPP_DIR:-}" ] && tools+=(git)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "'$tool' is missing; install it (Debian: apt-get install $tool)"
done
if [ "$cuda" = 1 ] && ! command -v nvcc >/dev/null; then
  die "--cuda needs the CUDA toolkit's nvcc on PATH (e.g. export PATH=/usr/local/cuda/bin:\$PATH)"
fi

# ---- the cache key: what the libraries are built from ----
[ "$cuda" = 1 ] && backend_dl=1
backend="cpu"; [ "$cuda" = 1 ] && backend="cuda-$(echo "$cuda_arch" | tr ';' '_')"
[ "$backend_dl" = 1 ] && backend="$backend-dl"
if [ "$avx2" = 1 ]; then
  [ "$backend_dl" = 1 ] && die "--avx2 restricts a single CPU backend; it cannot be combined with --cuda or --backend-dl"
  backend="$backend-avx2"
fi
if [ -n "${MOLORA_LLAMA_CPP_DIR:-}" ]; then
  [ -f "$MOLORA_LLAMA_CPP_DIR/include/llama.h" ] || die "MOLORA_LLAMA_CPP_DIR=$MOLORA_LLAMA_CPP_DIR is not a llama.cpp checkout (no include/llama.h)"
  source_id="dir-$(git -C "$MOLORA_LLAMA_CPP_DIR" rev-parse HEAD 2>/dev/null || echo unknown)"
else
  source_id="$LLAMA_VERSION"
fi
key_input="$(
  echo "$source_id $backend recipe-$RECIPE_VERSION"
  # contents and names only, so that every checkout of the same commit shares the build
  (cd "$here/patches" && find . -name '*.patch' -type f | LC_ALL=C sort | xargs -r sha256sum)
)"
key="$(echo "$key_input" | sha256sum | cut -c1-12)"
out="$cache/llama.cpp-$source_id-$backend-$key"

# The programs molora compares itself with, compiled against the built libraries: llama.cpp's own examples/simple
# (the parity oracle) and native-build/bench/decode_loop.cpp (the Java-overhead reference). Cheap, so they are
# rebuilt whenever their source changes rather than being part of the library cache key.
build_tools() {
  local dir="$1" stamp
  stamp="$(cat "$dir/src/examples/simple/simple.cpp" "$here/bench/decode_loop.cpp" | sha256sum | cut -c1-16)"
  [ "$(cat "$dir/bin/.tools" 2>/dev/null)" = "$stamp" ] && return 0
  mkdir -p "$dir/bin"
  local link=(-I "$dir/include" -L "$dir/lib" -lllama -lggml -lggml-base -Wl,-rpath,'$ORIGIN/../lib')
  c++ -O2 -std=c++17 "$dir/src/examples/simple/simple.cpp" -o "$dir/bin/llama-simple" "${link[@]}" \
    || die "could not compile examples/simple"
  c++ -O2 -std=c++17 "$here/bench/decode_loop.cpp" -o "$dir/bin/molora-decode-loop" "${link[@]}" \
    || die "could not compile bench/decode_loop.cpp"
  echo "$stamp" > "$dir/bin/.tools"
}

if [ -f "$out/.complete" ]; then
  build_tools "$out"
  say "up to date: $out"
  echo "$out"
  exit 0
fi

mkdir -p "$cache"
# One build per key at a time: a second caller waits, then finds the finished build.
exec 9>"$out.lock"
if command -v flock >/dev/null; then
  flock 9
  if [ -f "$out/.complete" ]; then
    build_tools "$out"
    say "up to date: $out"
    echo "$out"
    exit 0
  fi
fi
work="$out.partial"
rm -rf "$work"
mkdir -p "$work"

# ---- 1. source ----
if [ -n "${MOLORA_LLAMA_CPP_DIR:-}" ]; then
  say "copying $MOLORA_LLAMA_CPP_DIR"
  git clone -q "$MOLORA_LLAMA_CPP_DIR" "$work/src" 2>/dev/null || { rm -rf "$work/src"; cp -a "$MOLORA_LLAMA_CPP_DIR" "$work/src"; }
else
  tarball="$cache/downloads/${NPM_PACKAGE/@/-}.tgz"
  if [ ! -f "$tarball" ]; then
    command -v npm >/dev/null || die "npm is needed to fetch llama.cpp's source ($NPM_PACKAGE)"
    say "fetching $NPM_PACKAGE from the npm registry"
    mkdir -p "$cache/downloads"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "$NPM_PACKAGE" >/dev/null 2>&1) || die "npm pack $NPM_PACKAGE failed"
    mv "$tmp"/*.tgz "$tarball.tmp"
    rm -rf "$tmp"
    mv "$tarball.tmp" "$tarball"
  fi
  # npm's integrity string is "sha512-" + base64 of the tarball's SHA-512.
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$actual" != "$NPM_INTEGRITY" ]; then
    rm -f "$tarball"
    die "integrity mismatch for $NPM_PACKAGE: expected $NPM_INTEGRITY, got $actual (tarball deleted; run again)"
  fi
  say "verified $NPM_PACKAGE ($NPM_INTEGRITY)"
  tar -xzf "$tarball" -C "$work" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  grep -q "\"$LLAMA_VERSION\"" "$work/package/llama/llama.cpp.info.json" \
    || die "$NPM_PACKAGE does not ship llama.cpp $LLAMA_VERSION"
  git clone -q "$work/package/llama/gitRelease.bundle" "$work/src" 2>/dev/null
  rm -rf "$work/package"
fi

# ---- 2. patches, in order ----
for p in $(find "$here/patches" -name '*.patch' -type f | LC_ALL=C sort); do
  say "applying $(basename "$p")"
  if command -v git >/dev/null; then
    git -C "$work/src" apply --whitespace=nowarn "$p"
  else
    patch -d "$work/src" -p1 --batch --forward --quiet < "$p"
  fi || die "patch $(basename "$p") does not apply to llama.cpp $source_id"
done

# ---- 3. build the shared libraries ----
cmake_args=(
  -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
  -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
  "-DCMAKE_INSTALL_RPATH=\$ORIGIN;\$ORIGIN/../lib" -DCMAKE_INSTALL_LIBDIR=lib
)
command -v ninja >/dev/null || cmake_args=("${cmake_args[@]:2}")
if [ "$cuda" = 1 ]; then
  cmake_args+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$cuda_arch" -DGGML_CUDA_NCCL=OFF)
fi
if [ "$backend_dl" = 1 ]; then
  # backends as modules in bin/ (libggml-cpu-<level>.so, libggml-cuda.so); GGML_NATIVE cannot be a module, so one
  # CPU module per x86 level is built and the best this machine runs is loaded
  cmake_args+=(-DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_NATIVE=OFF)
fi
if [ "$avx2" = 1 ]; then
  # the x86 level of ggml's "haswell" variant: AVX2, FMA, F16C, BMI2 — and no AVX-512 of any kind
  cmake_args+=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
               -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF)
fi
jobs="$(nproc 2>/dev/null || echo 2)"
say "configuring ($backend)"
cmake -S "$work/src" -B "$work/build" "${cmake_args[@]}" > "$work/cmake-configure.log" 2>&1 \
  || { tail -30 "$work/cmake-configure.log" >&2; die "cmake configure failed (log: $work/cmake-configure.log)"; }
say "building libllama with $jobs jobs (a few minutes on 2 cores)"
start=$SECONDS
cmake --build "$work/build" -j "$jobs" > "$work/cmake-build.log" 2>&1 \
  || { tail -30 "$work/cmake-build.log" >&2; die "build failed (log: $work/cmake-build.log)"; }
cmake --install "$work/build" --prefix "$work" > /dev/null
# llama.cpp's own llama-perplexity, in the same tree (only its common library and itself are new), linked to lib/
say "building llama-perplexity (the oracle of molora perplexity)"
cmake -S "$work/src" -B "$work/build" "${cmake_args[@]}" -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_TOOLS_INSTALL=OFF -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON >> "$work/cmake-configure.log" 2>&1 \
  && cmake --build "$work/build" -j "$jobs" --target llama-perplexity >> "$work/cmake-build.log" 2>&1 \
  || { tail -30 "$work/cmake-build.log" >&2; die "building llama-perplexity failed (log: $work/cmake-build.log)"; }
mkdir -p "$work/bin"
cp "$work/build/bin/llama-perplexity" "$work/bin/"
cp -n "$work"/build/bin/libllama-common*.so* "$work"/build/bin/libllama-perplexity-impl*.so* "$work/lib/"
say "built in $((SECONDS - start)) s"

# ---- 4. the programs molora compares itself with ----
build_tools "$work"

rm -rf "$work/build" "$work/src/.git"
echo "$key_input" > "$work/.key"
touch "$work/.complete"
rm -rf "$out"
mv "$work" "$out"
say "done: $out"
echo "$out"

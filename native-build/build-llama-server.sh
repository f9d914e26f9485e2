#!/usr/bin/env bash
# Builds llama.cpp's own llama-server (tools/server), the peer scripts/peer-bench measures molora serve against, from
# the patched source of a native build molora already uses. Not part of build.sh's default build: only the peer
# benchmark needs it, and it costs 10-20 minutes on 2 cores.
#
#   native-build/build-llama-server.sh NATIVE_DIR [--jobs N] [--nice]
#
# NATIVE_DIR is what build.sh printed ($MOLORA_NATIVE_DIR after scripts/env.sh's ensure_native); its src/ is built.
# The CPU flags follow that build: native, or AVX2 at most where it is an --avx2 build. Only CPU builds (not
# --cuda or --backend-dl) are supported. The server is linked statically (one program, nothing shared with molora's
# libraries), without the web UI (no npm, no download: LLAMA_BUILD_UI=OFF, LLAMA_USE_PREBUILT_UI=OFF), curl or
# OpenSSL.
#
# Output: NATIVE_DIR/../llama-server-<NATIVE_DIR's name less "llama.cpp-">/bin/llama-server, built once (the name
# carries the source version, backend and key of the native build). The last line printed is the program's path.
set -euo pipefail

# Bump when the recipe below changes the program.
RECIPE_VERSION=1

native="${1:?usage: build-llama-server.sh NATIVE_DIR [--jobs N] [--nice]}"; shift
jobs="$(nproc 2>/dev/null || echo 2)"
nice_cmd=()
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs="${2:?--jobs needs a number}"; shift ;;
    --nice) nice_cmd=(nice -n 19) ;;
    *) echo "build-llama-server: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "build-llama-server: $*" >&2; }
die() { echo "build-llama-server: $*" >&2; exit 1; }

native="$(cd "$native" && pwd)" || die "no such directory: $1"
[ -f "$native/.complete" ] && [ -f "$native/src/tools/server/CMakeLists.txt" ] \
  || die "$native is not a finished native build with llama.cpp's source (run native-build/build.sh)"
name="$(basename "$native")"
case "$name" in
  *-cuda-*|*-dl-*) die "$name: only CPU builds are supported (not --cuda or --backend-dl)" ;;
esac
out="$(dirname "$native")/llama-server-${name#llama.cpp-}"
stamp="recipe-$RECIPE_VERSION $(sha256sum < "$native/.key" | cut -c1-16)"

if [ -x "$out/bin/llama-server" ] && [ "$(cat "$out/.complete" 2>/dev/null)" = "$stamp" ]; then
  echo "$out/bin/llama-server"
  exit 0
fi

exec 9>"$out.lock"
if command -v flock >/dev/null; then
  flock 9
  if [ -x "$out/bin/llama-server" ] && [ "$(cat "$out/.complete" 2>/dev/null)" = "$stamp" ]; then
    echo "$out/bin/llama-server"
    exit 0
  fi
fi

work="$out.partial"
rm -rf "$work"
mkdir -p "$work"
cmake_args=(
  -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
)
command -v ninja >/dev/null || cmake_args=("${cmake_args[@]:2}")
case "$name" in
  *-avx2-*)  # as build.sh --avx2: ggml's "haswell" level, no AVX-512 of any kind
    cmake_args+=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
                 -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF) ;;
esac

say "configuring ($name)"
"${nice_cmd[@]}" cmake -S "$native/src" -B "$work/build" "${cmake_args[@]}" > "$work/cmake-configure.log" 2>&1 \
  || { tail -30 "$work/cmake-configure.log" >&2; die "cmake configure failed (log: $work/cmake-configure.log)"; }
say "building llama-server with $jobs jobs (10-20 minutes on 2 cores)"
start=$SECONDS
"${nice_cmd[@]}" cmake --build "$work/build" -j "$jobs" --target llama-server > "$work/cmake-build.log" 2>&1 \
  || { tail -30 "$work/cmake-build.log" >&2; die "build failed (log: $work/cmake-build.log)"; }
mkdir -p "$work/bin"
cp "$work/build/bin/llama-server" "$work/bin/"
rm -rf "$work/build"
echo "$stamp" > "$work/.complete"
rm -rf "$out"
mv "$work" "$out"
say "built in $((SECONDS - start)) s: $out/bin/llama-server"
echo "$out/bin/llama-server"

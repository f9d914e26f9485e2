# Sourced by ./molora and ./run-tests: finds a JDK >= 22 and the native libraries, builds what is missing.
# Nothing here needs to be installed by hand: the JDK search covers JAVA_HOME, PATH and /usr/lib/jvm.

molora_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

java_feature_version() {  # prints the major version of the java binary $1, or 0
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -1 | cut -d. -f1 || echo 0
}

find_jdk() {  # sets JAVA_HOME to a JDK (with javac) of version >= 22
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v javac >/dev/null; then candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"); fi
  for d in /usr/lib/jvm/* /opt/java/* /usr/local/lib/jvm/*; do [ -d "$d" ] && candidates+=("$d"); done
  local best="" best_v=0 v
  for d in "${candidates[@]}"; do
    [ -x "$d/bin/java" ] && [ -x "$d/bin/javac" ] || continue
    v="$(java_feature_version "$d/bin/java")"
    if [ "${v:-0}" -ge 22 ] && [ "$v" -gt "$best_v" ]; then best="$d"; best_v="$v"; fi
  done
  if [ -z "$best" ]; then
    echo "molora: no JDK 22 or newer found (looked at JAVA_HOME, PATH and /usr/lib/jvm); install one, e.g. Temurin 25" >&2
    return 1
  fi
  export JAVA_HOME="$best"
}

ensure_native() {  # sets MOLORA_NATIVE_DIR (building llama.cpp once, then cached)
  if [ -z "${MOLORA_NATIVE_DIR:-}" ] || [ ! -f "$MOLORA_NATIVE_DIR/lib/libllama.so" ]; then
    MOLORA_NATIVE_DIR="$("$molora_root/native-build/build.sh" ${MOLORA_NATIVE_BUILD_FLAGS:-} | tail -1)" || return 1
  fi
  export MOLORA_NATIVE_DIR
  export MOLORA_LLAMA_SRC="$MOLORA_NATIVE_DIR/src"
}

ensure_client_venv() {  # the serve tests' and load test's Python clients: .cache/serve-client-venv, pinned
  local tests="$molora_root/server/src/test/python" venv="$molora_root/.cache/serve-client-venv"
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$tests/requirements.txt" "$venv/requirements.txt"; then
    echo "molora: setting up $venv (pinned client packages)..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || return 1
    # --retries 1: where the default index is unreachable and a local one serves the packages (this project's
    # machines), pip's five retries with backoff per package cost minutes; one retry costs nothing elsewhere
    "$venv/bin/pip" install -q --disable-pip-version-check --retries 1 -r "$tests/requirements.txt" >&2 || return 1
    cp "$tests/requirements.txt" "$venv/requirements.txt"
  fi
}

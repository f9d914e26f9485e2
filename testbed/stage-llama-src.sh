#!/usr/bin/env bash
# Copies the parts of the pinned llama.cpp source tree that the converters need (about 2 MB) into the repo's
# ignored .cache/llama-src, so a device run can carry them: run(carry=[".cache/llama-src"], ...).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${1:-${MOLORA_LLAMA_SRC:-}}"
if [ -z "$src" ]; then
  src="$(ls -d "$HOME"/.cache/molora/llama.cpp-v*/src 2>/dev/null | head -1 || true)"
fi
[ -n "$src" ] && [ -f "$src/convert_hf_to_gguf.py" ] || { echo "no llama.cpp source tree found; pass its path" >&2; exit 1; }
dest="$root/.cache/llama-src"
rm -rf "$dest"
mkdir -p "$dest"
cp "$src/convert_hf_to_gguf.py" "$src/convert_lora_to_gguf.py" "$dest/"
cp -r "$src/conversion" "$src/gguf-py" "$dest/"
find "$dest" -name __pycache__ -prune -exec rm -rf {} +
du -sh "$dest"
echo "$dest"

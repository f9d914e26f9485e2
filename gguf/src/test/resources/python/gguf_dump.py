"""Prints a GGUF file as canonical lines, read with llama.cpp's gguf-py GGUFReader.

kv <key> <repr>        repr: TYPE:value; ints in decimal, floats as raw bits in hex,
                       strings as hex of their UTF-8 bytes, arrays ARRAY:SUB:[repr,...]
tensor <name> <ggml type id> <ne0,ne1,...> <n bytes> <sha256 of data>
GgufPyCrossCheckTest produces the same lines from the Java reader and compares.
"""
import hashlib
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType

FLOAT_BITS = {GGUFValueType.FLOAT32: (np.uint32, 8), GGUFValueType.FLOAT64: (np.uint64, 16)}


def scalar(vtype, part):
    if vtype == GGUFValueType.STRING:
        return "STRING:" + bytes(part).hex()
    if vtype in FLOAT_BITS:
        view, width = FLOAT_BITS[vtype]
        return f"{vtype.name}:0x{int(part.view(view)[0]):0{width}x}"
    if vtype == GGUFValueType.BOOL:
        return "BOOL:" + ("true" if bool(part[0]) else "false")
    return f"{vtype.name}:{int(part[0])}"


def field_repr(field):
    main = field.types[0]
    if main == GGUFValueType.ARRAY:
        sub = field.types[-1]
        items = [scalar(sub, field.parts[i]) for i in field.data]
        return f"ARRAY:{sub.name}:[" + ",".join(items) + "]"
    return scalar(main, field.parts[-1])


def main(path):
    reader = GGUFReader(path)
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        print("kv", key, field_repr(field))
    for t in reader.tensors:
        data = np.ascontiguousarray(t.data).tobytes()
        shape = ",".join(str(int(d)) for d in t.shape)
        print("tensor", t.name, int(t.tensor_type), shape, len(data), hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1])

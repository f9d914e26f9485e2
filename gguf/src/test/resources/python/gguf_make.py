"""Writes a GGUF file with llama.cpp's gguf-py GGUFWriter: every metadata type, arrays of
every element type, and tensors in F32, F16 (numpy), Q8_0 (gguf.quants), I8, BF16.
Tensor "source" is the float data the F16/Q8_0/BF16 tensors were made from."""
import sys

import numpy as np
from gguf import GGUFWriter, GGUFValueType as T, GGMLQuantizationType as Q
from gguf import quants


def main(path):
    w = GGUFWriter(path, arch="llama")
    w.add_key_value("u8", 200, T.UINT8)
    w.add_key_value("i8", -5, T.INT8)
    w.add_key_value("u16", 65000, T.UINT16)
    w.add_key_value("i16", -30000, T.INT16)
    w.add_key_value("u32", 4_000_000_000, T.UINT32)
    w.add_key_value("i32", -2_000_000_000, T.INT32)
    w.add_key_value("u64", 2**64 - 1, T.UINT64)
    w.add_key_value("i64", -2**63, T.INT64)
    w.add_key_value("f32", 3.25, T.FLOAT32)
    w.add_key_value("f64", -1e300, T.FLOAT64)
    w.add_key_value("bool", True, T.BOOL)
    w.add_key_value("string", "héllo ✓ \n", T.STRING)
    w.add_key_value("arr.u8", [1, 255], T.ARRAY, T.UINT8)
    w.add_key_value("arr.i8", [-1, 2], T.ARRAY, T.INT8)
    w.add_key_value("arr.u16", [1, 65535], T.ARRAY, T.UINT16)
    w.add_key_value("arr.i16", [-1, 2], T.ARRAY, T.INT16)
    w.add_key_value("arr.u32", [7, 2**32 - 1], T.ARRAY, T.UINT32)
    w.add_key_value("arr.i32", [-7, 8], T.ARRAY, T.INT32)
    w.add_key_value("arr.u64", [2**64 - 1], T.ARRAY, T.UINT64)
    w.add_key_value("arr.i64", [2**63 - 1], T.ARRAY, T.INT64)
    w.add_key_value("arr.f32", [1.5, -0.0, 1e-40], T.ARRAY, T.FLOAT32)
    w.add_key_value("arr.f64", [0.1, 0.2], T.ARRAY, T.FLOAT64)
    w.add_key_value("arr.bool", [True, False], T.ARRAY, T.BOOL)
    w.add_key_value("arr.str", ["a", "", "ü"], T.ARRAY, T.STRING)

    rng = np.random.default_rng(1234)
    source = (rng.standard_normal((3, 64)) * np.arange(1, 65)).astype(np.float32)
    source[0, :32] = 0.0          # an all-zero Q8_0 block (d = 0)
    source[1, 5] = 0.5 * 127 / 100  # exercises rounding near .5
    w.add_tensor("source", source)
    w.add_tensor("f16", source.astype(np.float16))
    w.add_tensor("q8_0", quants.quantize(source, Q.Q8_0), raw_dtype=Q.Q8_0)
    w.add_tensor("bf16", quants.quantize(source, Q.BF16), raw_dtype=Q.BF16)
    w.add_tensor("i8", np.arange(-16, 16, dtype=np.int8).reshape(2, 16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1])

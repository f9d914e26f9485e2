package io.molora.runtime.campaign;

import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufValueType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Mutates the header of a valid model or adapter file: metadata numbers (scalars and array elements), strings (to
 * other meaningful values, empty, duplicated tokens), array lengths, value types, deleted keys, added keys llama.cpp
 * reads (with values at and beyond their limits), tensor types and dimensions, and raw header bytes. Each mutant
 * gets one to three edits; {@link Mutant#edits} says which, so a finding can be read without a hex dump.
 */
final class HeaderMutator {
    record Mutant(byte[] header, List<String> edits) {}

    private static final long[] U32 = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256,
            257, 511, 512, 513, 1000, 1023, 1024, 1025, 4096, 31999, 32000, 32001, 65535, 65536, 1L << 24,
            Integer.MAX_VALUE - 255L, Integer.MAX_VALUE, 1L << 31, 0xffffffffL};
    private static final long[] SIGNED = {-1, -2, -256, Integer.MIN_VALUE, Long.MIN_VALUE, Long.MAX_VALUE};
    private static final float[] F32 = {0f, -0f, 1f, -1f, 0.5f, 2f, 1e-5f, -1e-5f, 1e-30f, 1e30f, -1e30f, Float.NaN,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, Float.MAX_VALUE, 10000f, 1e6f, 1e4f,
            1.0001e4f, 128f};
    private static final String[] STRINGS = {"", "llama", "gpt2", "bert", "t5", "rwkv", "none", "no_vocab", "test",
            "plamo2", "gemma4", "hybriddna", "whitespace", "spm", "yarn", "linear", "longrope", "none ", "qwen2",
            "mistral", "falcon", "mamba", "clip", "adapter", "lora", "model", "default", "llama-bpe", "kimi-k2",
            "\u0000", "日本語", "<0x0A>", "<s>", "</s>", "<unk>", "\n", " "};

    /** Keys llama.cpp reads for llama models and tokenizers ("%" = the architecture), with how to fill them. */
    private enum Kind { U32, F32, BOOL, STRING, U32_PER_LAYER, I32_ARRAY, STRING_ARRAY, U8_ARRAY }

    private static final Map<String, Kind> MODEL_KEYS = Map.ofEntries(
            Map.entry("%.expert_count", Kind.U32), Map.entry("%.expert_used_count", Kind.U32_PER_LAYER),
            Map.entry("%.expert_group_count", Kind.U32), Map.entry("%.expert_group_used_count", Kind.U32),
            Map.entry("%.nextn_predict_layers", Kind.U32), Map.entry("%.attention.key_length", Kind.U32),
            Map.entry("%.attention.value_length", Kind.U32), Map.entry("%.rope.dimension_count", Kind.U32),
            Map.entry("%.rope.scaling.type", Kind.STRING), Map.entry("%.rope.scaling.factor", Kind.F32),
            Map.entry("%.rope.scale_linear", Kind.F32), Map.entry("%.rope.scaling.attn_factor", Kind.F32),
            Map.entry("%.rope.scaling.original_context_length", Kind.U32),
            Map.entry("%.rope.scaling.finetuned", Kind.BOOL), Map.entry("%.rope.scaling.alpha", Kind.F32),
            Map.entry("%.rope.freq_base", Kind.F32), Map.entry("%.attention.causal", Kind.BOOL),
            Map.entry("%.pooling_type", Kind.U32), Map.entry("%.embedding_length_out", Kind.U32),
            Map.entry("%.attention.layer_norm_epsilon", Kind.F32),
            Map.entry("%.attention.layer_norm_rms_epsilon", Kind.F32),
            Map.entry("%.attention.head_count", Kind.U32_PER_LAYER),
            Map.entry("%.attention.head_count_kv", Kind.U32_PER_LAYER),
            Map.entry("%.feed_forward_length", Kind.U32_PER_LAYER), Map.entry("%.attention.key_length_swa", Kind.U32),
            Map.entry("%.attention.value_length_swa", Kind.U32), Map.entry("%.rope.dimension_count_swa", Kind.U32),
            Map.entry("%.attention.sliding_window", Kind.U32), Map.entry("%.vocab_size", Kind.U32),
            Map.entry("%.context_length", Kind.U32), Map.entry("%.embedding_length", Kind.U32),
            Map.entry("%.block_count", Kind.U32), Map.entry("%.attention.scale", Kind.F32),
            Map.entry("%.expert_weights_scale", Kind.F32), Map.entry("%.classifier.output_labels", Kind.STRING_ARRAY),
            Map.entry("split.count", Kind.U32), Map.entry("general.alignment", Kind.U32),
            Map.entry("general.name", Kind.STRING), Map.entry("general.architecture", Kind.STRING),
            Map.entry("tokenizer.ggml.model", Kind.STRING), Map.entry("tokenizer.ggml.pre", Kind.STRING),
            Map.entry("tokenizer.ggml.merges", Kind.STRING_ARRAY), Map.entry("tokenizer.ggml.add_bos_token", Kind.BOOL),
            Map.entry("tokenizer.ggml.add_eos_token", Kind.BOOL), Map.entry("tokenizer.ggml.add_sep_token", Kind.BOOL),
            Map.entry("tokenizer.ggml.add_space_prefix", Kind.BOOL),
            Map.entry("tokenizer.ggml.remove_extra_whitespaces", Kind.BOOL),
            Map.entry("tokenizer.ggml.bos_token_id", Kind.U32), Map.entry("tokenizer.ggml.eos_token_id", Kind.U32),
            Map.entry("tokenizer.ggml.unknown_token_id", Kind.U32), Map.entry("tokenizer.ggml.seperator_token_id", Kind.U32),
            Map.entry("tokenizer.ggml.padding_token_id", Kind.U32), Map.entry("tokenizer.ggml.eot_token_id", Kind.U32),
            Map.entry("tokenizer.ggml.eom_token_id", Kind.U32), Map.entry("tokenizer.ggml.mask_token_id", Kind.U32),
            Map.entry("tokenizer.ggml.fim_pre_token_id", Kind.U32), Map.entry("tokenizer.ggml.token_type_count", Kind.U32),
            Map.entry("tokenizer.ggml.suppress_tokens", Kind.I32_ARRAY),
            Map.entry("tokenizer.ggml.precompiled_charsmap", Kind.U8_ARRAY),
            Map.entry("tokenizer.chat_template", Kind.STRING));

    private static final Map<String, Kind> ADAPTER_KEYS = Map.ofEntries(
            Map.entry("adapter.lora.alpha", Kind.F32), Map.entry("adapter.type", Kind.STRING),
            Map.entry("general.type", Kind.STRING), Map.entry("general.architecture", Kind.STRING),
            Map.entry("adapter.alora_invocation_tokens", Kind.I32_ARRAY), Map.entry("general.alignment", Kind.U32));

    private final SplittableRandom random;
    private final String arch;
    private final int layers;
    private final boolean adapter;

    HeaderMutator(SplittableRandom random, String arch, int layers, boolean adapter) {
        this.random = random;
        this.arch = arch;
        this.layers = layers;
        this.adapter = adapter;
    }

    Mutant mutate(SeedFile.Header seed) {
        SeedFile.Header h = seed.copy();
        List<String> edits = new ArrayList<>();
        int n = 1 + (random.nextInt(4) == 0 ? 1 + random.nextInt(2) : 0);
        List<int[]> flips = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int op = random.nextInt(100);
            if (op < 22) {
                number(h, edits);
            } else if (op < 42) {
                addKey(h, edits);
            } else if (op < 52) {
                string(h, edits);
            } else if (op < 62) {
                arrayElement(h, edits);
            } else if (op < 69) {
                arrayLength(h, edits);
            } else if (op < 77) {
                changeType(h, edits);
            } else if (op < 82) {
                deleteKey(h, edits);
            } else if (op < 90) {
                tensor(h, edits);
            } else {
                flips.add(new int[] {random.nextInt(1 << 20), random.nextInt(256)});
            }
        }
        byte[] bytes = h.bytes();
        for (int[] f : flips) {
            // raw bytes of the header, mostly near the start where the hyperparameters are
            int at = random.nextBoolean() ? f[0] % Math.min(bytes.length, 4096) : f[0] % bytes.length;
            edits.add("byte " + at + ": 0x" + Integer.toHexString(bytes[at] & 0xff) + " -> 0x" + Integer.toHexString(f[1]));
            bytes[at] = (byte) f[1];
        }
        return new Mutant(bytes, edits);
    }

    // ---- metadata ----

    private void number(SeedFile.Header h, List<String> edits) {
        List<String> keys = h.metadata.entrySet().stream()
                .filter(e -> SeedFile.isNumeric(e.getValue().type()) || e.getValue().type() == GgufValueType.BOOL)
                .map(Map.Entry::getKey).toList();
        if (keys.isEmpty()) {
            return;
        }
        String key = keys.get(random.nextInt(keys.size()));
        GgufValue old = h.metadata.get(key);
        GgufValue v = interesting(old.type(), old);
        h.metadata.put(key, v);
        edits.add(key + ": " + show(old) + " -> " + show(v));
    }

    private void addKey(SeedFile.Header h, List<String> edits) {
        Map<String, Kind> table = adapter ? ADAPTER_KEYS : MODEL_KEYS;
        List<String> keys = table.keySet().stream().sorted().toList();
        String pattern = keys.get(random.nextInt(keys.size()));
        String key = pattern.replace("%", arch);
        GgufValue v = fill(table.get(pattern), h.metadata.get(key));
        GgufValue old = h.metadata.put(key, v);
        edits.add("set " + key + ": " + (old == null ? "absent" : show(old)) + " -> " + show(v));
    }

    private void string(SeedFile.Header h, List<String> edits) {
        List<String> keys = h.metadata.entrySet().stream().filter(e -> e.getValue().type() == GgufValueType.STRING)
                .map(Map.Entry::getKey).toList();
        if (keys.isEmpty()) {
            return;
        }
        String key = keys.get(random.nextInt(keys.size()));
        GgufValue v = GgufValue.of(someString());
        edits.add(key + ": " + show(h.metadata.get(key)) + " -> " + show(v));
        h.metadata.put(key, v);
    }

    private void arrayElement(SeedFile.Header h, List<String> edits) {
        String key = someArray(h);
        if (key == null) {
            return;
        }
        GgufArray a = h.metadata.get(key).asArray();
        if (a.size() == 0) {
            return;
        }
        // early elements are the special and byte tokens: hit them more often
        int i = random.nextBoolean() ? random.nextInt(Math.min(a.size(), 300)) : random.nextInt(a.size());
        Object e = copyElements(a);
        String what;
        switch (a.elementType()) {
            case STRING -> {
                @SuppressWarnings("unchecked")
                List<String> list = (List<String>) e;
                int r = random.nextInt(4);
                String s = r == 0 ? list.get(random.nextInt(list.size())) : r == 1 ? "" : r == 2
                        ? "x".repeat(1 + random.nextInt(70_000)) : someString();
                what = "'" + clip(list.get(i)) + "' -> '" + clip(s) + "'";
                list.set(i, s);
            }
            case INT32, UINT32 -> {
                int[] x = (int[]) e;
                long v = pick(random.nextBoolean() ? U32 : SIGNED);
                what = x[i] + " -> " + (int) v;
                x[i] = (int) v;
            }
            case FLOAT32 -> {
                float[] x = (float[]) e;
                float v = F32[random.nextInt(F32.length)];
                what = x[i] + " -> " + v;
                x[i] = v;
            }
            case UINT8, INT8 -> {
                byte[] x = (byte[]) e;
                int v = random.nextInt(256);
                what = x[i] + " -> " + (byte) v;
                x[i] = (byte) v;
            }
            default -> {
                return;
            }
        }
        h.metadata.put(key, GgufValue.of(new GgufArray(a.elementType(), e)));
        edits.add(key + "[" + i + "]: " + what);
    }

    private void arrayLength(SeedFile.Header h, List<String> edits) {
        String key = someArray(h);
        if (key == null) {
            return;
        }
        GgufArray a = h.metadata.get(key).asArray();
        int n = a.size();
        int[] choices = {0, 1, Math.max(0, n - 1), n / 2, n + 1, n + random.nextInt(300) + 1, 255, 256, 257};
        int len = choices[random.nextInt(choices.length)];
        h.metadata.put(key, GgufValue.of(resize(a, len)));
        edits.add(key + ": length " + n + " -> " + len);
    }

    private void changeType(SeedFile.Header h, List<String> edits) {
        List<String> keys = new ArrayList<>(h.metadata.keySet());
        String key = keys.get(random.nextInt(keys.size()));
        GgufValue old = h.metadata.get(key);
        GgufValueType[] types = GgufValueType.values();
        GgufValueType to = types[random.nextInt(types.length)];
        GgufValue v;
        if (old.type() == GgufValueType.ARRAY && to != GgufValueType.ARRAY) {
            // the element type of the array instead, or the array flattened to its first element
            GgufArray a = old.asArray();
            v = random.nextBoolean() ? GgufValue.of(convertArray(a, to)) : convert(a.size() > 0 ? first(a) : old, to);
        } else if (to == GgufValueType.ARRAY) {
            GgufValueType elem = old.type() == GgufValueType.ARRAY ? GgufValueType.UINT32 : old.type();
            int len = random.nextBoolean() ? layers : 1 + random.nextInt(3);
            v = GgufValue.of(repeat(old.type() == GgufValueType.ARRAY ? convert(old, elem) : old, len));
        } else {
            v = convert(old, to);
        }
        h.metadata.put(key, v);
        edits.add(key + ": " + describeType(old) + " -> " + describeType(v) + " " + show(v));
    }

    private void deleteKey(SeedFile.Header h, List<String> edits) {
        List<String> keys = new ArrayList<>(h.metadata.keySet());
        String key = keys.get(random.nextInt(keys.size()));
        h.metadata.remove(key);
        edits.add("delete " + key);
    }

    // ---- tensor table ----

    private void tensor(SeedFile.Header h, List<String> edits) {
        int i = random.nextInt(h.tensors.size());
        SeedFile.Tensor t = h.tensors.get(i);
        long[] dims = t.dims().clone();
        long type = t.typeId();
        switch (random.nextInt(4)) {
            case 0 -> type = random.nextInt(8) == 0 ? random.nextInt(64) : new long[] {0, 1, 8, 24, 25, 26, 27, 28, 30}[random.nextInt(9)];
            case 1 -> {
                int d = random.nextInt(dims.length);
                long[] choices = {1, 2, dims[d] - 1, dims[d] + 1, dims[d] * 2, Math.max(1, dims[d] / 2), 0, 32, 64};
                dims[d] = choices[random.nextInt(choices.length)];
            }
            case 2 -> {
                if (dims.length >= 2) {
                    long x = dims[0];
                    dims[0] = dims[1];
                    dims[1] = x;
                }
            }
            default -> dims = random.nextBoolean() && dims.length > 1 ? Arrays.copyOf(dims, dims.length - 1)
                    : Arrays.copyOf(dims, Math.min(4, dims.length + 1));
        }
        for (int d = 0; d < dims.length; d++) {
            if (dims[d] == 0 && d >= t.dims().length) {
                dims[d] = 1;
            }
        }
        h.tensors.set(i, t.with(type, dims));
        edits.add("tensor " + t.name() + ": type " + t.typeId() + " " + Arrays.toString(t.dims()) + " -> type " + type
                + " " + Arrays.toString(dims));
    }

    // ---- values ----

    private GgufValue fill(Kind kind, GgufValue existing) {
        if (existing != null && random.nextInt(3) == 0 && existing.type() != GgufValueType.ARRAY) {
            return interesting(existing.type(), existing);
        }
        return switch (kind) {
            case U32 -> random.nextInt(8) == 0 ? GgufValue.ofInt32((int) pick(SIGNED)) : GgufValue.ofUint32(pick(U32));
            case F32 -> GgufValue.of(F32[random.nextInt(F32.length)]);
            case BOOL -> GgufValue.of(random.nextBoolean());
            case STRING -> GgufValue.of(someString());
            case U32_PER_LAYER -> {
                if (random.nextBoolean()) {
                    yield GgufValue.ofUint32(pick(U32));
                }
                int len = random.nextInt(4) == 0 ? 1 + random.nextInt(layers + 2) : layers;
                int[] v = new int[len];
                for (int i = 0; i < len; i++) {
                    v[i] = (int) (random.nextInt(3) == 0 ? pick(U32) : new long[] {1, 2, 4, 8, 128}[random.nextInt(5)]);
                }
                yield GgufValue.of(new GgufArray(random.nextInt(4) == 0 ? GgufValueType.INT32 : GgufValueType.UINT32, v));
            }
            case I32_ARRAY -> {
                int[] v = new int[random.nextInt(6)];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (int) (random.nextBoolean() ? pick(SIGNED) : pick(U32));
                }
                yield GgufValue.of(new GgufArray(random.nextBoolean() ? GgufValueType.INT32 : GgufValueType.UINT32, v));
            }
            case STRING_ARRAY -> {
                List<String> v = new ArrayList<>();
                int len = random.nextInt(5);
                for (int i = 0; i < len; i++) {
                    v.add(someString() + (random.nextBoolean() ? " " + someString() : ""));
                }
                yield GgufValue.of(GgufArray.ofStrings(v));
            }
            case U8_ARRAY -> {
                byte[] v = new byte[random.nextInt(64)];
                random.nextBytes(v);
                yield GgufValue.of(new GgufArray(GgufValueType.UINT8, v));
            }
        };
    }

    private GgufValue interesting(GgufValueType type, GgufValue old) {
        long base = SeedFile.isNumeric(type) && type != GgufValueType.FLOAT32 && type != GgufValueType.FLOAT64
                ? old.asLong() : 0;
        long v = switch (random.nextInt(6)) {
            case 0 -> base + 1;
            case 1 -> base - 1;
            case 2 -> base * 2;
            case 3 -> pick(SIGNED);
            default -> pick(U32);
        };
        float f = random.nextInt(4) == 0 && old.type() == GgufValueType.FLOAT32
                ? (Float) old.value() * new float[] {-1f, 2f, 0.5f, 1e10f}[random.nextInt(4)] : F32[random.nextInt(F32.length)];
        return switch (type) {
            case UINT8 -> GgufValue.ofUint8((int) v);
            case INT8 -> GgufValue.ofInt8((byte) v);
            case UINT16 -> GgufValue.ofUint16((int) v);
            case INT16 -> GgufValue.ofInt16((short) v);
            case UINT32 -> GgufValue.ofUint32(v);
            case INT32 -> GgufValue.ofInt32((int) v);
            case UINT64 -> GgufValue.ofUint64(v);
            case INT64 -> GgufValue.ofInt64(v);
            case FLOAT32 -> GgufValue.of(f);
            case FLOAT64 -> GgufValue.of((double) f);
            case BOOL -> GgufValue.of(!old.asBoolean());
            default -> old;
        };
    }

    private static GgufValue convert(GgufValue v, GgufValueType to) {
        double d = switch (v.type()) {
            case STRING -> v.asString().length();
            case BOOL -> v.asBoolean() ? 1 : 0;
            case ARRAY -> v.asArray().size();
            default -> v.asDouble();
        };
        long l = (long) d;
        return switch (to) {
            case UINT8 -> GgufValue.ofUint8((int) l);
            case INT8 -> GgufValue.ofInt8((byte) l);
            case UINT16 -> GgufValue.ofUint16((int) l);
            case INT16 -> GgufValue.ofInt16((short) l);
            case UINT32 -> GgufValue.ofUint32(l);
            case INT32 -> GgufValue.ofInt32((int) l);
            case UINT64 -> GgufValue.ofUint64(l);
            case INT64 -> GgufValue.ofInt64(l);
            case FLOAT32 -> GgufValue.of((float) d);
            case FLOAT64 -> GgufValue.of(d);
            case BOOL -> GgufValue.of(l != 0);
            case STRING -> GgufValue.of(v.type() == GgufValueType.STRING ? v.asString() : String.valueOf(v.value()));
            case ARRAY -> GgufValue.of(repeat(v, 1));
        };
    }

    private static GgufArray repeat(GgufValue v, int n) {
        List<GgufValue> values = java.util.Collections.nCopies(n, v);
        return arrayOf(v.type(), values);
    }

    private static GgufArray arrayOf(GgufValueType type, List<GgufValue> values) {
        int n = values.size();
        Object e = switch (type) {
            case UINT8, INT8 -> {
                byte[] x = new byte[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (Byte) values.get(i).value();
                }
                yield x;
            }
            case UINT16, INT16 -> {
                short[] x = new short[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (Short) values.get(i).value();
                }
                yield x;
            }
            case UINT32, INT32 -> {
                int[] x = new int[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (Integer) values.get(i).value();
                }
                yield x;
            }
            case UINT64, INT64 -> {
                long[] x = new long[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (Long) values.get(i).value();
                }
                yield x;
            }
            case FLOAT32 -> {
                float[] x = new float[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (Float) values.get(i).value();
                }
                yield x;
            }
            case FLOAT64 -> {
                double[] x = new double[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (Double) values.get(i).value();
                }
                yield x;
            }
            case BOOL -> {
                boolean[] x = new boolean[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (Boolean) values.get(i).value();
                }
                yield x;
            }
            case STRING -> values.stream().map(GgufValue::asString).toList();
            case ARRAY -> values.stream().map(GgufValue::asArray).toList();
        };
        return new GgufArray(type, e);
    }

    private static GgufValue first(GgufArray a) {
        return elements(a).get(0);
    }

    private static List<GgufValue> elements(GgufArray a) {
        List<GgufValue> out = new ArrayList<>(a.size());
        Object e = a.elements();
        for (int i = 0; i < a.size(); i++) {
            Object x = switch (a.elementType()) {
                case STRING, ARRAY -> ((List<?>) e).get(i);
                default -> java.lang.reflect.Array.get(e, i);
            };
            out.add(new GgufValue(a.elementType(), x));
        }
        return out;
    }

    private static GgufArray convertArray(GgufArray a, GgufValueType to) {
        return arrayOf(to, elements(a).stream().map(v -> convert(v, to)).toList());
    }

    private GgufArray resize(GgufArray a, int len) {
        List<GgufValue> values = elements(a);
        List<GgufValue> out = new ArrayList<>(len);
        for (int i = 0; i < len; i++) {
            out.add(i < values.size() ? values.get(i) : values.isEmpty() ? filler(a.elementType(), i)
                    : values.get(random.nextInt(values.size())));
        }
        return arrayOf(a.elementType(), out);
    }

    private static GgufValue filler(GgufValueType type, int i) {
        return type == GgufValueType.STRING ? GgufValue.of("extra" + i) : convert(GgufValue.ofUint32(i), type);
    }

    private static Object copyElements(GgufArray a) {
        Object e = a.elements();
        if (e instanceof List<?> l) {
            return new ArrayList<>(l);
        }
        return switch (e) {
            case byte[] b -> b.clone();
            case short[] s -> s.clone();
            case int[] x -> x.clone();
            case long[] x -> x.clone();
            case float[] x -> x.clone();
            case double[] x -> x.clone();
            case boolean[] x -> x.clone();
            default -> throw new IllegalStateException();
        };
    }

    private String someArray(SeedFile.Header h) {
        List<String> keys = h.metadata.entrySet().stream().filter(e -> e.getValue().type() == GgufValueType.ARRAY)
                .map(Map.Entry::getKey).toList();
        return keys.isEmpty() ? null : keys.get(random.nextInt(keys.size()));
    }

    private String someString() {
        int r = random.nextInt(10);
        if (r == 0) {
            return "y".repeat(random.nextInt(100_000));
        }
        if (r == 1) {
            return String.format("<0x%02X>", random.nextInt(256));
        }
        return STRINGS[random.nextInt(STRINGS.length)];
    }

    private long pick(long[] values) {
        return values[random.nextInt(values.length)];
    }

    private static String describeType(GgufValue v) {
        return v.type() == GgufValueType.ARRAY ? "ARRAY of " + v.asArray().elementType() + "[" + v.asArray().size() + "]"
                : v.type().name();
    }

    static String show(GgufValue v) {
        String s = switch (v.type()) {
            case STRING -> "'" + clip(v.asString()) + "'";
            case ARRAY -> describeType(v);
            default -> String.valueOf(v.value());
        };
        return s;
    }

    private static String clip(String s) {
        return s.length() > 24 ? s.substring(0, 24) + "...(" + s.length() + ")" : s;
    }
}

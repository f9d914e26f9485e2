package io.molora.gguf;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A cheap, deterministic stand-in for fuzzing that always runs: thousands of mutations
 * (bit flips, interesting integers at random offsets, truncations, splices) of valid files
 * must all either parse or give GgufFormatException.
 */
class GgufReaderMutationTest {
    @TempDir
    Path dir;

    private static final long[] INTERESTING = {0, 1, -1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000L,
            0xffffffffL, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 30, 1L << 40, 9, 13, 43, 64, 65};

    @Test
    void mutatedFilesParseOrThrowFormatException() throws Exception {
        Path file = dir.resolve("seed.gguf");
        GgufRoundTripTest.everyMetadataType()
                .addTensor("t", GgmlType.Q8_0, new long[] {32, 2}, TensorSources.ofFloats(GgmlType.Q8_0, 32, new float[64]))
                .addTensor("u", GgmlType.F16, new long[] {3}, TensorSources.ofFloats(GgmlType.F16, 3, new float[3]))
                .write(file);
        List<byte[]> seeds = List.of(Files.readAllBytes(file));
        SplittableRandom random = new SplittableRandom(20261122);
        for (int i = 0; i < 20_000; i++) {
            byte[] input = seeds.get(0).clone();
            int edits = 1 + random.nextInt(4);
            for (int e = 0; e < edits; e++) {
                input = mutate(input, random);
            }
            ReaderContract.check(input);
        }
    }

    private static byte[] mutate(byte[] in, SplittableRandom random) {
        if (in.length == 0) {
            return in;
        }
        int at = random.nextInt(in.length);
        switch (random.nextInt(4)) {
            case 0 -> in[at] ^= (byte) (1 << random.nextInt(8));
            case 1 -> {
                int width = random.nextBoolean() ? 4 : 8;
                if (at + width <= in.length) {
                    ByteBuffer b = ByteBuffer.wrap(in).order(ByteOrder.LITTLE_ENDIAN);
                    long v = INTERESTING[random.nextInt(INTERESTING.length)];
                    if (width == 4) {
                        b.putInt(at, (int) v);
                    } else {
                        b.putLong(at, v);
                    }
                }
            }
            case 2 -> in = java.util.Arrays.copyOf(in, at);
            default -> {
                int from = random.nextInt(in.length);
                int n = Math.min(random.nextInt(16) + 1, Math.min(in.length - from, in.length - at));
                System.arraycopy(in, from, in, at, n);
            }
        }
        return in;
    }
}

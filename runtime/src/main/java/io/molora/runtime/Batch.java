package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.bindings.llama.llama_batch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Tokens for one {@link Context#decode} call ({@code struct llama_batch} from {@code llama_batch_init}). Filled with
 * {@link #add}; positions and sequence ids are checked here, token ids by the context that decodes it.
 */
public final class Batch implements TokenBatch, AutoCloseable {
    // shared: a scheduler may be built on one thread and driven on another (one thread at a time)
    private final Arena arena = Arena.ofShared();
    private final int capacity;
    private final int maxSeqPerToken;
    // struct llama_batch, by value, in our arena; its arrays are malloc'ed by llama_batch_init
    private final MemorySegment batch;
    private final MemorySegment tokens;     // llama_token[capacity]
    private final MemorySegment positions;  // llama_pos[capacity]
    private final MemorySegment nSeqIds;    // int32_t[capacity]
    private final MemorySegment seqIds;     // llama_seq_id *[capacity]
    private final MemorySegment outputs;    // int8_t[capacity]
    private int size;
    private boolean open = true;

    public Batch(int capacity) {
        this(capacity, 1);
    }

    public Batch(int capacity, int maxSeqPerToken) {
        if (capacity < 1) {
            throw new IllegalArgumentException("batch capacity must be >= 1, got " + capacity);
        }
        if (maxSeqPerToken < 1) {
            throw new IllegalArgumentException("maxSeqPerToken must be >= 1, got " + maxSeqPerToken);
        }
        Backend.init();
        this.capacity = capacity;
        this.maxSeqPerToken = maxSeqPerToken;
        this.batch = llama_batch_init(arena, capacity, 0, maxSeqPerToken);
        this.tokens = llama_batch.token(batch).reinterpret((long) capacity * Integer.BYTES);
        this.positions = llama_batch.pos(batch).reinterpret((long) capacity * Integer.BYTES);
        this.nSeqIds = llama_batch.n_seq_id(batch).reinterpret((long) capacity * Integer.BYTES);
        this.seqIds = llama_batch.seq_id(batch).reinterpret((long) capacity * ValueLayout.ADDRESS.byteSize());
        this.outputs = llama_batch.logits(batch).reinterpret(capacity);
    }

    /** Adds a token at {@code pos} of sequence {@code seq}; {@code output} asks for its logits. Returns its index. */
    public int add(int token, int pos, int seq, boolean output) {
        checkOpen();
        if (size == capacity) {
            throw new IllegalStateException("batch is full (" + capacity + " tokens)");
        }
        if (pos < 0) {
            throw new IllegalArgumentException("position must be >= 0, got " + pos);
        }
        if (seq < 0) {
            throw new IllegalArgumentException("sequence id must be >= 0, got " + seq);
        }
        int i = size++;
        tokens.setAtIndex(ValueLayout.JAVA_INT, i, token);
        positions.setAtIndex(ValueLayout.JAVA_INT, i, pos);
        nSeqIds.setAtIndex(ValueLayout.JAVA_INT, i, 1);
        seqIds.getAtIndex(ValueLayout.ADDRESS, i).reinterpret((long) maxSeqPerToken * Integer.BYTES)
                .setAtIndex(ValueLayout.JAVA_INT, 0, seq);
        outputs.set(ValueLayout.JAVA_BYTE, i, (byte) (output ? 1 : 0));
        llama_batch.n_tokens(batch, size);
        return i;
    }

    /** Changes whether token {@code i} produces logits. */
    public void setOutput(int i, boolean output) {
        checkIndex(i);
        outputs.set(ValueLayout.JAVA_BYTE, i, (byte) (output ? 1 : 0));
    }

    public void clear() {
        checkOpen();
        size = 0;
        llama_batch.n_tokens(batch, 0);
    }

    @Override
    public int size() {
        return size;
    }

    public int capacity() {
        return capacity;
    }

    @Override
    public int token(int i) {
        checkIndex(i);
        return tokens.getAtIndex(ValueLayout.JAVA_INT, i);
    }

    @Override
    public int position(int i) {
        checkIndex(i);
        return positions.getAtIndex(ValueLayout.JAVA_INT, i);
    }

    @Override
    public int sequence(int i) {
        checkIndex(i);
        return seqIds.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(Integer.BYTES).get(ValueLayout.JAVA_INT, 0);
    }

    public boolean isOutput(int i) {
        checkIndex(i);
        return outputs.get(ValueLayout.JAVA_BYTE, i) != 0;
    }

    /** {@code struct llama_batch} by value, for {@code llama_decode}. */
    MemorySegment struct() {
        checkOpen();
        return batch;
    }

    private void checkIndex(int i) {
        checkOpen();
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("batch index " + i + " outside [0, " + size + ")");
        }
    }

    private void checkOpen() {
        if (!open) {
            throw new IllegalStateException("batch is closed");
        }
    }

    @Override
    public void close() {
        if (open) {
            open = false;
            llama_batch_free(batch);
            arena.close();
        }
    }
}

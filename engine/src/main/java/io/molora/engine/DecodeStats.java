package io.molora.engine;

import io.molora.runtime.SequenceScheduler;

/**
 * What a batch loop's decodes did: how many, how many tokens they held, how full they were, the time inside the
 * decode and the time of whole steps (decode, sampling, admission). The engine's own type, so that the commands and
 * the server's metrics need not know the runtime's scheduler.
 *
 * @param busySlots   sequences holding a request, summed over the decodes (divide by {@code decodes} for occupancy)
 * @param decodeNanos time inside llama.cpp's decode
 * @param stepNanos   time of the scheduler's steps, the decode included
 */
public record DecodeStats(long decodes, long tokens, long busySlots, long decodeNanos, long stepNanos) {
    static DecodeStats of(SequenceScheduler.Stats s) {
        return new DecodeStats(s.decodes(), s.tokens(), s.busySlots(), s.decodeNanos(), s.stepNanos());
    }
}

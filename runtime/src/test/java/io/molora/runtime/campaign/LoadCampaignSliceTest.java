package io.molora.runtime.campaign;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fixed 200-file slice of the load campaign (the whole one: scripts/load-campaign, docs/RELIABILITY.md): every
 * mutant molora's checks accept loads and decodes in the child JVM or is refused cleanly; none ends the child.
 */
class LoadCampaignSliceTest {
    @TempDir
    Path out;

    @Test
    void noAcceptedMutantAbortsTheProcess() throws Exception {
        LoadCampaign.Result r = LoadCampaign.run(NativeTestSupport.nativeDir(), 200, 20261201L, 0, out,
                new PrintStream(java.io.OutputStream.nullOutputStream()));
        String summary = LoadCampaign.summary(r, 20261201L);
        assertEquals(List.of(), r.findings(), summary);
        assertEquals(0, r.aborts() + r.signals() + r.timeouts() + r.hsErrFiles(), summary);
        // the slice must exercise both sides, or it proves nothing
        assertTrue(r.nativeOk() >= 50, summary);
        assertTrue(r.rejected() - r.rejectedByReader() >= 50, summary);
        assertEquals(200, r.accepted() + r.rejected(), summary);
    }
}

"""CoMoL (testbed/comol.py): the forward is the authors' per-token formula (a materialised merged core, h^T C), and the
tensors the export writes compute, by patch 0011's graph arithmetic (B (M (h (x) softmax(R h)))), the same update.
Needs torch: run under the testbed's venv; skipped by the system python3."""
import unittest

import _path  # noqa: F401

try:
    import numpy as np
    import torch
    import comol
    import mixture
    import ttlora
except ImportError:   # the system python3 of ./run-tests has no torch
    torch = None


@unittest.skipIf(torch is None, "torch is not installed (use the testbed venv)")
class CoMoLTest(unittest.TestCase):
    def layer(self, out=24, inp=16, rank=4, cores=3):
        torch.manual_seed(5)
        m = comol.CoMoLLinear(torch.nn.Linear(inp, out, bias=False), rank=rank, cores=cores)
        with torch.no_grad():
            m.b.normal_()   # B starts at zero: make the update count
        return m

    def test_forward_is_the_merged_core_formula(self):
        m = self.layer()
        x = torch.randn(2, 7, 16)
        with torch.no_grad():
            h = x @ m.a.t()
            g = torch.softmax(h @ m.router.t(), dim=-1)
            merged = torch.einsum("bte,eij->btij", g, m.cores)            # a per-token r x r core
            want = m.base(x) + (h.unsqueeze(-2) @ merged).squeeze(-2) @ m.b.t()
            self.assertLess(float((m(x) - want).abs().max()), 1e-5)

    def test_export_layout_computes_the_same_update_as_the_graph_does(self):
        m = self.layer()
        r, e = m.a.shape[0], m.cores.shape[0]
        x = torch.randn(5, 16)
        with torch.no_grad():
            want = (m(x) - m.base(x)).double().numpy()
            a, b = m.a.double().numpy(), m.b.double().numpy()
            big_m = np.concatenate([c.T for c in m.cores.double().numpy()], axis=1)   # numpy (r, r*E) as written
            router = m.router.double().numpy()
        self.assertEqual(big_m.shape, (r, r * e))

        def graph(cores_m):
            out = []
            for t in x.double().numpy():
                h = a @ t
                logits = router @ h
                g = np.exp(logits - logits.max())
                g /= g.sum()
                z = (h[None, :] * g[:, None]).reshape(-1)    # ggml [r, E] flattened: index i + e*r holds g_e h_i
                out.append(b @ (cores_m @ z))
            return np.array(out)

        self.assertLess(float(np.abs(graph(big_m) - want).max()), 1e-5)   # float32 forward against float64
        untransposed = np.concatenate(list(m.cores.detach().double().numpy()), axis=1)
        self.assertGreater(float(np.abs(graph(untransposed) - want).max()), 1e-2)

    def test_uniform_gate_weighs_every_core_alike(self):
        m = self.layer()
        m.uniform = True
        h = torch.randn(3, 4)
        self.assertTrue(torch.allclose(m.gate(h), torch.full((3, 3), 1 / 3)))

    def test_permute_is_the_inverse_of_ttloras_unpermute(self):
        w = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
        for heads in (4, 8):
            self.assertTrue(np.array_equal(ttlora.unpermute(mixture.permute(w, heads), heads), w))
            self.assertFalse(np.array_equal(mixture.permute(w, heads), w))


if __name__ == "__main__":
    unittest.main()

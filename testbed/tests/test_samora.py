"""SAMoRA (testbed/samora.py): the forward is the authors' SALinear formula, and the tensors the export writes compute,
by patch 0012's graph arithmetic (tau B_cat (h (x) softmax(K l2norm(h)))), the same update.
Needs torch: run under the testbed's venv; skipped by the system python3."""
import unittest

import _path  # noqa: F401

try:
    import numpy as np
    import torch
    import samora
    from config import ModelConfig
except ImportError:   # the system python3 of ./run-tests has no torch
    torch = None


@unittest.skipIf(torch is None, "torch is not installed (use the testbed venv)")
class SAMoRATest(unittest.TestCase):
    def layer(self, out=24, inp=16, rank=4, experts=3, n_task=3):
        torch.manual_seed(7)
        task = samora.Task()
        m = samora.SAMoRALinear(torch.nn.Linear(inp, out, bias=False), task, n_task, rank=rank, experts=experts)
        with torch.no_grad():
            m.b.normal_()          # B starts at zero: make the update count
            m.s.uniform_(0.5, 1.5)
        return m, task

    def test_forward_is_the_authors_formula(self):
        m, task = self.layer()
        x = torch.randn(2, 7, 16)
        with torch.no_grad():
            h = x @ m.a.t()
            cos = torch.nn.functional.cosine_similarity(h.unsqueeze(-2), m.lambdas, dim=-1)   # (2, 7, E)
            g = torch.softmax(cos / samora.TEMPERATURE, dim=-1)
            mix = sum(g[..., e:e + 1] * ((h @ torch.diag(m.s)) @ m.b[e].t()) for e in range(3))
            for t in (0, 2):
                task.current = t
                tau = torch.sigmoid(m.task_embedding[t] @ m.task_gate[:, 0])
                self.assertLess(float((m(x) - (m.base(x) + tau * mix)).abs().max()), 1e-5)
            task.current = samora.UNSEEN
            tau = torch.sigmoid((m.task_embedding @ m.task_gate[:, 0]).mean())     # forward_new: mean logit
            self.assertLess(float((m(x) - (m.base(x) + tau * mix)).abs().max()), 1e-5)
            task.current = torch.tensor([1, samora.UNSEEN])                        # one task per row
            per_row = m(x)
            task.current = 1
            self.assertTrue(torch.allclose(per_row[0], m(x)[0]))
            task.current = samora.UNSEEN
            self.assertTrue(torch.allclose(per_row[1], m(x)[1]))

    def test_export_layout_computes_the_same_update_as_the_graph_does(self):
        m, task = self.layer()
        x = torch.randn(5, 16)
        names = ModelConfig()
        t = folded = samora.folded(m, "v_proj", names)     # v_proj: no row permutation
        r, e = m.a.shape[0], m.lambdas.shape[0]
        self.assertEqual(folded["lora_b"].shape, (24, r * e))
        self.assertEqual(folded["samora_keys"].shape, (e, r))
        self.assertEqual(folded["samora_tau"].shape, (4,))
        for which in (0, samora.UNSEEN):
            task.current = which
            with torch.no_grad():
                want = (m(x) - m.base(x)).double().numpy()
            out = []
            for v in x.double().numpy():
                h = t["lora_a"] @ v
                logits = t["samora_keys"] @ (h / max(np.linalg.norm(h), 1e-12))   # ggml_l2_norm, then the keys
                g = np.exp(logits - logits.max())
                g /= g.sum()
                z = (h[None, :] * g[:, None]).reshape(-1)        # ggml [r, E] flattened: index i + e*r holds g_e h_i
                out.append(t["samora_tau"][which] * (t["lora_b"] @ z))
            self.assertLess(float(np.abs(np.array(out) - want).max()), 1e-5)

    def test_regulariser_is_zero_only_at_orthonormal_factors_and_matching_keys(self):
        m, _ = self.layer(out=4, inp=4, rank=4, experts=1)
        q, _ = torch.linalg.qr(torch.randn(4, 4))        # orthonormal, with a mean row that is not uniform
        with torch.no_grad():
            m.a.copy_(q.t())
            m.b.copy_(q.unsqueeze(0))
            m.lambdas.copy_(m.b.mean(dim=1))            # the key points where its expert's mean row does
        self.assertLess(float(m.regulariser().detach()), 1e-7)
        with torch.no_grad():
            m.lambdas.mul_(-1)
        self.assertGreater(float(m.regulariser().detach()), 1e-5)

    def test_uniform_gate_weighs_every_expert_alike(self):
        m, _ = self.layer()
        m.uniform = True
        self.assertTrue(torch.allclose(m.gate(torch.randn(3, 4)), torch.full((3, 3), 1 / 3)))


if __name__ == "__main__":
    unittest.main()

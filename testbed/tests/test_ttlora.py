"""TT-LoRA experts (testbed/ttlora.py): the factors U, V the export writes are the tensor train's update exactly, and
the un-permutation of Q/K rows inverts convert_hf_to_gguf.py's. Needs torch: run under the testbed's venv
(.cache/testbed-venv/bin/python -m unittest discover testbed/tests); skipped by the system python3."""
import unittest

import _path  # noqa: F401

try:
    import numpy as np
    import torch
    import ttlora
except ImportError:   # the system python3 of ./run-tests has no torch
    torch = None


@unittest.skipIf(torch is None, "torch is not installed (use the testbed venv)")
class TTLoRATest(unittest.TestCase):
    def tt(self, out, inp):
        torch.manual_seed(3)
        tt = ttlora.TTLoRALinear(torch.nn.Linear(inp, out, bias=False), rank=5, alpha=0.5)
        with torch.no_grad():
            for c in tt.cores:
                c.normal_()   # the first core starts at zero: make every core count
        return tt

    def dense(self, tt):
        """dW by the definition: the product of one slice of every core, for every (row, column) multi-index."""
        cores = [c.detach().double().numpy() for c in tt.cores]
        modes = list(tt.out_modes) + list(tt.in_modes)
        full = np.zeros(modes)
        for idx in np.ndindex(*modes):
            m = np.eye(1)
            for c, i in zip(cores, idx):
                m = m @ c[:, i, :]
            full[idx] = m[0, 0]
        out = int(np.prod(tt.out_modes))
        return tt.alpha * full.reshape(out, -1)

    def test_factors_are_the_train_exactly(self):
        for out, inp in ((256, 768), (768, 256), (256, 256)):
            tt = self.tt(out, inp)
            u, v = tt.factors()
            self.assertEqual((u.shape, v.shape), ((out, 5), (5, inp)))
            want = self.dense(tt)
            np.testing.assert_allclose(tt.delta().detach().double().numpy(), want, rtol=1e-4, atol=1e-4)

    def test_forward_adds_the_update(self):
        tt = self.tt(256, 768)
        x = torch.randn(3, 768)
        want = tt.base(x) + x @ tt.delta().t()
        torch.testing.assert_close(tt(x), want, rtol=1e-4, atol=1e-4)

    def test_unpermute_inverts_convert_hf_to_gguf(self):
        def permute(w, n_head):   # convert_hf_to_gguf.py's LlamaModel.permute, for the check
            return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
        w = np.arange(256 * 8, dtype=np.float32).reshape(256, 8)
        np.testing.assert_array_equal(ttlora.unpermute(permute(w, 4), 4), w)
        self.assertFalse(np.array_equal(permute(w, 4), w))


if __name__ == "__main__":
    unittest.main()

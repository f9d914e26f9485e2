"""Testbed configuration: one JSON-serialisable dataclass tree, recorded verbatim in the manifest.

Everything that changes an artifact lives here (seeds included), so a stage's fingerprint is the hash of
the config sections it reads; see stages.py.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List

DOMAINS = ("code", "prose", "math")
# pretraining-only English text (never an adapter's domain, never an eval set): what the base mostly learns from,
# so that each adapter carries something the base lacks
GENERAL = "general"
POOLS = DOMAINS + (GENERAL,)


@dataclass
class CorpusConfig:
    seed: int = 1234
    # size caps per domain, in characters of text (after dedup), for the whole corpus (all splits)
    max_chars: Dict[str, int] = field(default_factory=lambda: {
        "code": 12_000_000, "prose": 8_000_000, "math": 6_000_000, "general": 14_000_000})
    # documents longer than this are cut into pieces at line boundaries
    max_doc_chars: int = 4000
    min_doc_chars: int = 200
    # fraction of documents (by stable hash of their content) in each held-out split
    valid_fraction: float = 0.02
    test_fraction: float = 0.04
    # the mixed-domain held-out set (lines combining two or three domains)
    mixed_count: int = 400
    # source files larger than this are skipped (generated tables, vendored blobs)
    max_source_file_bytes: int = 200_000
    # at most this many files per top-level package, so no single package dominates the code corpus
    max_files_per_package: int = 400
    # where the general pool's English comes from (system documentation, not Python's: the prose domain is
    # Python-ecosystem prose — docstrings, package descriptions, the language reference); globs allowed;
    # plain text, Markdown, reST, POD and their .gz forms
    general_roots: List[str] = field(default_factory=lambda: [
        "/usr/share/doc", "/usr/share/perl", "/usr/share/perl5", "/usr/share/cmake*/Help", "/usr/share/info",
        "/usr/lib/node_modules"])
    general_max_files: int = 20_000


@dataclass
class TokenizerConfig:
    vocab_size: int = 4096
    model_type: str = "bpe"          # llama.cpp's SPM vocab replays BPE merges by score: bpe matches it exactly
    character_coverage: float = 0.9995
    input_sentence_size: int = 2_000_000
    max_train_chars: int = 8_000_000   # sentencepiece's BPE trainer has no time limit: this bounds its time


@dataclass
class ModelConfig:
    hidden_size: int = 256
    intermediate_size: int = 768
    num_hidden_layers: int = 8
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = True


@dataclass
class TrainConfig:
    seed: int = 1234
    seq_len: int = 256
    batch_size: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 150
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    max_steps: int = 100_000
    # wall-clock budget (defaults sized for the 2-core CPU box: the whole pipeline in <= 100 minutes with slack);
    # the schedule is laid out over min(max_steps, steps that fit at the throughput measured before training)
    max_seconds: int = 2400
    # pretraining mixture: mostly general English; a little of each adapter domain, so the base knows them
    # but each adapter has most of its domain still to learn
    mixture: Dict[str, float] = field(default_factory=lambda: {
        "general": 0.85, "code": 0.05, "prose": 0.05, "math": 0.05})
    eval_every: int = 500
    # "auto": bf16 autocast if the throughput stage measured it faster than fp32 here, else fp32
    precision: str = "auto"
    threads: int = 0                # torch threads; 0 = every core
    throughput_seconds: float = 12.0    # per precision measured before the base trains


@dataclass
class LoraConfig:
    seed: int = 4321
    r: int = 32
    alpha: float = 64.0
    dropout: float = 0.0
    target_modules: List[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    lr: float = 2e-3
    batch_size: int = 16
    warmup_steps: int = 50
    max_steps: int = 100_000
    max_seconds_per_domain: int = 600
    eval_every: int = 200           # valid loss every this many steps; the best state on the domain's valid is kept


@dataclass
class ExportConfig:
    # preferred output types, tried in order until the size limits hold
    base_outtypes: List[str] = field(default_factory=lambda: ["f16", "q8_0"])
    lora_outtype: str = "f16"
    max_file_bytes: int = 16 * 1024 * 1024
    max_total_bytes: int = 30 * 1024 * 1024
    max_files: int = 8              # the device returns at most 8 files from $OUT
    eval_records_per_domain: int = 128
    eval_mixed_records: int = 128
    convert_max_seconds: int = 120


@dataclass
class TestbedConfig:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def section_hash(self, *names: str) -> str:
        """Stable hash of the named sections: what a stage's output depends on."""
        d = self.to_dict()
        blob = json.dumps({n: d[n] for n in names}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "TestbedConfig":
        sections = {f.name: f.type for f in dataclasses.fields(TestbedConfig)}
        classes = {"corpus": CorpusConfig, "tokenizer": TokenizerConfig, "model": ModelConfig,
                   "train": TrainConfig, "lora": LoraConfig, "export": ExportConfig}
        kwargs = {}
        for name in sections:
            cls = classes[name]
            known = {f.name for f in dataclasses.fields(cls)}
            given = d.get(name, {})
            unknown = set(given) - known
            if unknown:
                raise ValueError(f"unknown keys in config section {name!r}: {sorted(unknown)}")
            kwargs[name] = cls(**given)
        unknown = set(d) - set(sections)
        if unknown:
            raise ValueError(f"unknown config sections: {sorted(unknown)}")
        return TestbedConfig(**kwargs)

    def with_overrides(self, overrides: List[str]) -> "TestbedConfig":
        """Apply KEY=VALUE overrides such as train.max_seconds=120 (VALUE parsed as JSON, else a string)."""
        d = self.to_dict()
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not SECTION.KEY=VALUE")
            key, raw = item.split("=", 1)
            parts = key.split(".")
            if len(parts) != 2 or parts[0] not in d or parts[1] not in d[parts[0]]:
                raise ValueError(f"unknown config key {key!r}")
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
            d[parts[0]][parts[1]] = value
        return TestbedConfig.from_dict(d)

    def tiny(self) -> "TestbedConfig":
        """A seconds-long variant for smoke runs (CPU or GPU): same code paths, toy sizes."""
        return self.with_overrides([
            'corpus.max_chars={"code": 300000, "prose": 200000, "math": 150000, "general": 300000}',
            "corpus.general_max_files=300",
            "corpus.mixed_count=60", "corpus.max_files_per_package=40",
            "corpus.valid_fraction=0.08", "corpus.test_fraction=0.08",
            "tokenizer.vocab_size=512", "tokenizer.max_train_chars=400000",
            "model.hidden_size=64", "model.intermediate_size=128", "model.num_hidden_layers=2",
            "model.num_attention_heads=2", "model.num_key_value_heads=2",
            "train.seq_len=128", "train.batch_size=8", "train.max_steps=30", "train.max_seconds=30",
            "train.warmup_steps=5", "train.eval_every=10",
            "train.throughput_seconds=1",
            "lora.r=4", "lora.alpha=8", "lora.batch_size=8", "lora.max_steps=10", "lora.warmup_steps=2",
            "lora.max_seconds_per_domain=30", "lora.eval_every=5",
            "export.eval_records_per_domain=8", "export.eval_mixed_records=8",
        ])

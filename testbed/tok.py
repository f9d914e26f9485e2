"""The sentencepiece tokenizer (trained here) and the token-id eval sets. Imports sentencepiece lazily.

Settings chosen so llama.cpp's SPM tokenizer reproduces sentencepiece exactly: BPE (llama.cpp replays merges
by score), identity normalisation, whitespace kept as is (code indentation), byte fallback (newlines become
<0x0A>), split digits, ids unk=0 bos=1 eos=2, no pad.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

from config import DOMAINS, ExportConfig, TokenizerConfig

UNK, BOS, EOS = 0, 1, 2


def trainer_kwargs(cfg: TokenizerConfig, prefix: str, threads: int = 16) -> Dict:
    return dict(model_prefix=prefix, vocab_size=cfg.vocab_size, model_type=cfg.model_type,
                character_coverage=cfg.character_coverage, byte_fallback=True, split_digits=True,
                allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
                normalization_rule_name="identity", add_dummy_prefix=True,
                unk_id=UNK, bos_id=BOS, eos_id=EOS, pad_id=-1,
                input_sentence_size=cfg.input_sentence_size, shuffle_input_sentence=True,
                max_sentence_length=16384, num_threads=threads)


def training_sentences(docs_by_domain: Dict[str, List[Dict]], max_chars: int, seed: int) -> Iterator[str]:
    """Non-empty lines of train documents, an equal character share per domain, in a seeded order."""
    rng = random.Random(seed)
    share = max_chars // max(1, len(docs_by_domain))
    out: List[str] = []
    for d in sorted(docs_by_domain):
        docs = list(docs_by_domain[d])
        rng.shuffle(docs)
        n = 0
        for doc in docs:
            for line in doc["text"].split("\n"):
                if line.strip():
                    out.append(line)
                    n += len(line)
            if n >= share:
                break
    rng.shuffle(out)
    return iter(out)


def train_tokenizer(docs_by_domain: Dict[str, List[Dict]], cfg: TokenizerConfig, out_dir: Path, seed: int) -> Path:
    import sentencepiece as spm
    out_dir.mkdir(parents=True, exist_ok=True)
    if hasattr(spm, "set_random_generator_seed"):
        spm.set_random_generator_seed(seed)
    prefix = str(out_dir / "tokenizer")
    spm.SentencePieceTrainer.train(sentence_iterator=training_sentences(docs_by_domain, cfg.max_train_chars, seed),
                                   **trainer_kwargs(cfg, prefix))
    return out_dir / "tokenizer.model"


def load(path: Path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor()
    sp.Load(str(path))
    return sp


def fit_record(encode, text: str, seq_len: int) -> Tuple[str, List[int]]:
    """(prefix, [BOS] + ids of prefix): the longest whole-line prefix of `text` whose ids fit in seq_len
    tokens (shortening by a quarter of the lines at a time; within the first line, by words), or ("", [])."""
    lines = text.split("\n")
    while lines:
        t = "\n".join(lines).strip("\n")
        if t:
            ids = [BOS] + list(encode(t))
            if len(ids) <= seq_len:
                return t, ids
        if len(lines) == 1:
            break
        lines = lines[:max(1, len(lines) * 3 // 4)]
    # one line too long (a prose paragraph is one line): the longest whole-word prefix that fits
    words = lines[0].strip("\n").split(" ") if lines else []
    lo, hi, best = 1, len(words), ("", [])
    while lo <= hi:
        mid = (lo + hi) // 2
        t = " ".join(words[:mid]).strip()
        ids = [BOS] + list(encode(t)) if t else []
        if ids and len(ids) <= seq_len:
            best, lo = (t, ids), mid + 1
        else:
            hi = mid - 1
    return best


def eval_records(encode, docs: Sequence[Dict], n: int, seq_len: int, seed: int, set_name: str,
                 min_tokens: int = 16) -> List[Dict]:
    """Up to n records {set, text, ids}; each text is a held-out document's leading lines that fit seq_len.
    Spans/domains of mixed lines are kept when the whole line fits."""
    rng = random.Random(seed)
    order = list(range(len(docs)))
    rng.shuffle(order)
    out: List[Dict] = []
    for i in order:
        if len(out) >= n:
            break
        text, ids = fit_record(encode, docs[i]["text"], seq_len)
        if len(ids) < min_tokens:
            continue
        rec = {"set": set_name, "text": text, "ids": ids}
        if "spans" in docs[i]:
            if text != docs[i]["text"].strip("\n"):
                continue            # a mixed line must stay whole, with its spans
            rec.update({k: docs[i][k] for k in ("spans", "domains", "template")})
        out.append(rec)
    return out


def write_eval_sets(encode, corpus, cfg: ExportConfig, seq_len: int, seed: int, path: Path) -> Dict[str, int]:
    rows: List[Dict] = []
    counts: Dict[str, int] = {}
    for d in DOMAINS:
        recs = eval_records(encode, corpus.docs[d]["test"], cfg.eval_records_per_domain, seq_len, seed, d)
        rows.extend(recs)
        counts[d] = len(recs)
    mixed = [m for m in corpus.mixed]
    recs = eval_records(encode, mixed, cfg.eval_mixed_records, seq_len, seed, "mixed")
    rows.extend(recs)
    counts["mixed"] = len(recs)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    return counts

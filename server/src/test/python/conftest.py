"""Fixtures shared by the client tests: one running `molora serve` on the testbed family for the whole session, the
official `openai` client pointed at it, and the oracle: the same requests run through `molora complete` (the batch
command over the same engine, no HTTP), whose greedy texts, token counts and routes the server must reproduce."""

import sys
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import molora_server  # noqa: E402

MIXED_PROMPT = ("Write a Python function that returns the number of seats in a train with 12 cars of 48 seats "
                "each.\n")
CHAT = [{"role": "user", "content": "Write a Python function that adds two numbers."}]

# The requests every oracle comparison uses: custom_id -> (`complete`'s JSONL fields, the server's equivalent).
# model: an adapter name = that adapter alone; "auto" = the router (complete: a request naming no adapter, with
# --router); the base id = no adapter (complete: adapter "none"); a molora.adapters mix = complete's "adapters".
ORACLE = {
    "code": ({"prompt": "def add(a, b):\n", "adapter": "code", "max_tokens": 24},
             {"prompt": "def add(a, b):\n", "model": "code", "max_tokens": 24}),
    "auto": ({"prompt": MIXED_PROMPT, "max_tokens": 32},
             {"prompt": MIXED_PROMPT, "model": "auto", "max_tokens": 32}),
    "base": ({"prompt": "The history of", "adapter": "none", "max_tokens": 16},
             {"prompt": "The history of", "model": molora_server.BASE_ID, "max_tokens": 16}),
    "mix": ({"prompt": "Let x = 3. Then", "adapters": {"code": 0.7, "math": 0.3}, "max_tokens": 16},
            {"prompt": "Let x = 3. Then", "model": "auto", "max_tokens": 16,
             "molora": {"adapters": {"code": 0.7, "math": 0.3}}}),
    "chat": ({"messages": CHAT, "max_tokens": 24},
             {"messages": CHAT, "model": "auto", "max_tokens": 24}),
}


@pytest.fixture(scope="session")
def server():
    with molora_server.Server("--parallel", "4") as s:
        yield s


KEY = "s3cret-key"


@pytest.fixture(scope="session")
def keyed_server():
    """A second server that needs `Authorization: Bearer KEY`."""
    with molora_server.Server("--api-key", KEY) as s:
        yield s


@pytest.fixture(scope="session")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def oracle(tmp_path_factory):
    """custom_id -> `molora complete --temp 0 --show-routes` record for each ORACLE request."""
    requests = [dict(custom_id=k, temperature=0, **jsonl) for k, (jsonl, _) in ORACLE.items()]
    records, _ = molora_server.run_complete(requests, tmp_path_factory.mktemp("oracle"), "--show-routes",
                                            "--parallel", "1")
    for k, rec in records.items():
        assert "error" not in rec, f"oracle request {k} failed in molora complete: {rec}"
    return records


def server_request(name):
    """The server-side fields of ORACLE[name], greedy."""
    return dict(ORACLE[name][1], temperature=0)

"""Every golden conversation, end to end through the whole stack, offline (evals/conversations)."""

from __future__ import annotations

import pytest

from evals.converse import Harness, load

CONVERSATIONS = load()


@pytest.fixture(scope="module")
def harness(tmp_path_factory, request):
    # The seeded template store, policy index and router model are cached across runs (keyed by
    # a digest of the code and data behind them); each conversation gets a fresh store copy.
    cache = request.config.cache.mkdir("golden-conversations")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield Harness(tmp_path_factory.mktemp("conversations"), cache)


@pytest.mark.slow
@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[c.id for c in CONVERSATIONS])
def test_conversation(harness, conversation):
    outcome = harness.run(conversation)
    assert not outcome.errors, outcome.errors
    assert not outcome.failures, "\n".join(outcome.failures)

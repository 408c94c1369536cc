"""Conversation state in SQL: any replica can load it, an unknown id is an error, races lose."""

from __future__ import annotations

import pytest

from crew.plan import Step, ToolCall
from crew.state import (
    ConcurrentTurn,
    ConversationState,
    ConversationStore,
    PendingAction,
    UnknownConversation,
)
from shop.db import make_engine


@pytest.fixture
def store(tmp_path):
    return ConversationStore(make_engine(f"sqlite:///{tmp_path / 'store.db'}"))


def test_state_round_trips_through_another_replica(store, tmp_path):
    state = store.create()
    loaded, version = store.load(state.conversation_id)
    loaded.customer_id = "noah_brown_6181"
    loaded.remember_order("#W7678072")
    step = Step(id="s", kind="return", agent="returns", intent="return_items")
    call = ToolCall(tool="return_delivered_order_items", arguments={"order_id": "#W7678072"})
    loaded.pending = PendingAction(token="confirm-123456", call=call, summary="s", step=step)
    store.save(loaded, version)
    other = ConversationStore(make_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    again, _ = other.load(state.conversation_id)
    assert again.customer_id == "noah_brown_6181"
    assert again.recent_orders == ["#W7678072"]
    assert again.pending == loaded.pending


@pytest.mark.parametrize("conversation_id", ["", "nope", "0" * 32, "'; DROP TABLE x; --"])
def test_unknown_conversation_is_an_error_not_a_blank_state(store, conversation_id):
    store.create()
    with pytest.raises(UnknownConversation):
        store.load(conversation_id)


def test_a_save_that_lost_a_race_is_refused(store):
    state = store.create()
    first, version = store.load(state.conversation_id)
    second, same_version = store.load(state.conversation_id)
    first.customer_id = "a"
    store.save(first, version)
    second.customer_id = "b"
    with pytest.raises(ConcurrentTurn):
        store.save(second, same_version)
    assert store.load(state.conversation_id)[0].customer_id == "a"


def test_recent_context_keeps_newest_first_without_duplicates():
    state = ConversationState(conversation_id="c")
    for order_id in ["#W1", "#W2", "#W1", "#W3"]:
        state.remember_order(order_id)
    assert state.recent_orders == ["#W3", "#W1", "#W2"]

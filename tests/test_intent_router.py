"""The router end to end: trained model, thresholds, multi-intent order, spans, CLI, cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import settings
from crew.intent import LABELS, Catalog, Router, classifier
from crew.intent import __main__ as cli
from crew.intent import router as router_module
from crew.intent.classifier import ExamplesError, IntentModel

pytestmark = pytest.mark.slow  # loads MiniLM and trains the model once for the module

DB_JSON = Path(settings.ROOT) / "shop" / "data" / "db.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("intent-data")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_db_json(DB_JSON)


@pytest.fixture(scope="module")
def router(data, catalog) -> Router:
    return Router.load(catalog, cache_dir=data / "cache")


def _labels(result) -> list[str]:
    return [i.label for i in result.intents]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        (
            "can you first recommend a similar one in green, then return the blue shirt",
            ["product_search", "return_items"],
        ),
        (
            "Return the blue shirt, but first recommend a similar one in green",
            ["product_search", "return_items"],
        ),
        (
            "cancel order #W2378156 and then tell me where #W1234567 is",
            ["cancel_order", "order_status"],
        ),
        (
            "I want to exchange the boots. Before that, where is my other order?",
            ["order_status", "exchange_items"],
        ),
        ("yes, and refund it to my gift card please", ["affirm", "return_items"]),
        ("Hi! Where is my order #W2378156?", ["order_status"]),  # the greeting needs no workflow
        ("Hi, I'm Yusuf Rossi, zip 19122. I want to return the headphones", ["return_items"]),
        ("I'm Yusuf Rossi, zip 19122", []),  # an answer, not a request
        ("what's the weather like in Paris tomorrow?", ["out_of_scope"]),
        ("nope", ["deny"]),
        # exchange words for an order that has not shipped: a modification
        ("swap the size on the order I just placed", ["modify_order"]),
        ("the lamp in my open order, can I get it in another colour instead", ["modify_order"]),
        ("exchange the sneakers I received for a size 10", ["exchange_items"]),
        ("which planet is closest to the sun?", ["out_of_scope"]),
        # "it" is the gift card the first request named: paying an order with it changes the order
        (
            "how much is left on my gift card? then use it to pay for my open order",
            ["account", "modify_order"],
        ),
        (
            "check my gift card balance and then use it to pay my pending order",
            ["account", "modify_order"],
        ),
        ("swap the size on my pending order", ["modify_order"]),
        ("exchange the shirt in my order, it hasn't shipped yet", ["modify_order"]),
        ("return the lamp from my order that hasn't shipped", ["cancel_order"]),
        # a return in progress or an order that may have arrived: the customer's words stand
        ("I haven't sent the shoes back yet, can I still return them?", ["return_items"]),
        (
            "I haven't sent back the boots yet. Can I still exchange them for a bigger size?",
            ["exchange_items"],
        ),
        ("I want to return the lamp but the return label hasn't been sent to me", ["return_items"]),
        ("I want to return the keyboard I just ordered", ["return_items"]),
        (
            "I just ordered this jacket last month and the zipper broke, I want to return it",
            ["return_items"],
        ),
        # a pronoun after a payment method that does not pay with it keeps its own request
        (
            "Change my payment method to my credit card. Then the espresso machine: how do I"
            " use it?",
            ["account", "product_search"],
        ),
        (
            "Change my payment method to PayPal. Also, the blender I bought, can I return it and"
            " put the refund on my account?",
            ["account", "return_items"],
        ),
        (
            "What's my store credit balance? Also I want to return the lamp and put it back in"
            " the box",
            ["account", "return_items"],
        ),
    ],
)
def test_intents_in_the_order_wanted(router, text, labels):
    assert _labels(router.classify(text)) == labels


@pytest.mark.parametrize(
    ("text", "asked", "never"),
    [
        # the refund, not the order, has not been sent: whatever it is, it cancels nothing
        ("I returned the boots two weeks ago and my refund hasn't been sent", 1, "cancel_order"),
        # "use it" is the mug, not the PayPal: the question is still asked
        (
            "Delete my saved PayPal. And the mug I got, can I use it in the dishwasher?",
            2,
            "modify_order",
        ),
    ],
)
def test_no_rule_misreads_an_ordinary_message(router, text, asked, never):
    labels = _labels(router.classify(text))
    assert len(labels) == asked
    assert never not in labels


def test_entities_come_with_the_intents(router):
    result = router.classify("Hi, I'm Yusuf Rossi, zip 19122. Return the headphones from #W2378156")
    assert result.entities.order_ids == ["#W2378156"]
    assert result.entities.zip_codes == ["19122"]
    assert result.entities.name is not None and result.entities.name.full == "Yusuf Rossi"
    assert [p.names for p in result.entities.products] == [["Headphones"]]


def _constant_model(top: float, label: str = "order_status") -> IntentModel:
    """A model that gives every text the same probabilities: `top` for `label`."""
    rest = (1 - top) / (len(LABELS) - 1)
    probabilities = np.array([top if lab == label else rest for lab in LABELS])
    return IntentModel(
        labels=LABELS,
        weights=np.zeros((len(LABELS), 384), dtype=np.float32),
        bias=np.log(probabilities).astype(np.float32),
        temperature=1.0,
    )


@pytest.mark.parametrize(
    ("top", "text", "labels"),
    [
        (0.45, "where is my order", []),  # below the threshold: ask, don't guess
        (0.55, "where is my order", ["order_status"]),
        (0.45, "yes", ["affirm"]),  # an exact reply rule does not depend on the model
        (0.45, "👍", ["affirm"]),
        (0.99, "", []),
        (0.99, "  ", []),
        (0.99, "I'm Yusuf Rossi, zip 19122", []),  # identification answers, it does not ask
        (0.45, "first this, then that", []),  # no segment and not the whole message: nothing
    ],
)
def test_below_threshold_returns_no_intent(catalog, top, text, labels):
    router = Router(_constant_model(top), catalog, threshold=0.5)
    result = router.classify(text)
    assert _labels(result) == labels
    assert result.intent == (labels[0] if labels else None)


def test_out_of_scope_is_not_forced_into_a_business_label(router):
    business = set(LABELS) - {"out_of_scope", "smalltalk", "affirm", "deny"}
    for text in ("reset my password", "subscribe me to the newsletter", "tell me a joke"):
        assert not set(_labels(router.classify(text))) & business, text


def test_confidence_is_a_probability(router):
    result = router.classify("where is my order #W2378156?")
    assert result.intent == "order_status"
    assert router.threshold <= result.intents[0].confidence <= 1.0


def test_batch_gives_the_same_answers_as_one_by_one(router):
    texts = ["where is my order?", "yes", "first recommend a kettle, then cancel #W2378156", ""]
    batch = router.classify_many(texts)
    assert [_labels(r) for r in batch] == [_labels(router.classify(t)) for t in texts]


def test_every_classification_is_a_chain_span(router, monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(router_module, "tracer", provider.get_tracer("test"))
    router.classify_many(["where is #W2378156?", "hello"])
    spans = exporter.get_finished_spans()
    assert [s.attributes["input.value"] for s in spans] == ["where is #W2378156?", "hello"]
    first = spans[0].attributes
    assert first["openinference.span.kind"] == "CHAIN"
    assert first["intent.label"] == "order_status"
    assert first["intent.confidence"] >= router.threshold
    assert json.loads(first["intent.entities"])["order_ids"] == ["#W2378156"]


def test_cli_round_trip(router, data, tmp_path, monkeypatch, capsys):
    texts = ["can you first recommend a similar one in green, then return the blue shirt", "yes"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts) + "\n")
    monkeypatch.setenv("DATA_DIR", str(data))  # the module's cached model: no retraining
    settings.get.cache_clear()
    try:
        assert cli.main(["--jsonl", str(source)]) == 0
    finally:
        settings.get.cache_clear()
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [[i["label"] for i in r["intents"]] for r in rows] == [
        ["product_search", "return_items"],
        ["affirm"],
    ]
    assert set(rows[0]["intents"][0]) == {"label", "confidence"}
    assert rows[0]["entities"]["references"][0]["text"] == "the blue shirt"


@pytest.mark.parametrize("line", ['{"txt": "hi"}', "not json", '["hi"]', '{"text": 3}'])
def test_cli_rejects_bad_lines(tmp_path, capsys, line, monkeypatch):
    monkeypatch.setattr(cli.Router, "load", classmethod(lambda cls, *a, **k: None))
    source = tmp_path / "in.jsonl"
    source.write_text(line + "\n")
    assert cli.main(["--jsonl", str(source)]) == 2
    assert "line 1" in capsys.readouterr().err


def _examples(extra: str = "") -> list[tuple[str, str]]:
    return [(f"{label} example {i}{extra}", label) for label in LABELS for i in range(5)]


def test_model_is_retrained_when_the_examples_change(tmp_path, monkeypatch):
    trained = []

    def fake_train(examples):
        trained.append(examples)
        return _constant_model(0.9)

    monkeypatch.setattr(classifier, "train", fake_train)
    classifier.load_or_train(_examples(), tmp_path)
    classifier.load_or_train(_examples(), tmp_path)  # same examples: from the cache
    assert len(trained) == 1
    classifier.load_or_train(_examples(" changed"), tmp_path)
    assert len(trained) == 2
    assert len(list(tmp_path.glob("intent-*.npz"))) == 2
    for path in tmp_path.glob("intent-*.npz"):
        path.write_bytes(b"damaged")
    model = classifier.load_or_train(_examples(), tmp_path)  # unreadable cache: retrain
    assert len(trained) == 3
    assert model.labels == LABELS


@pytest.mark.parametrize(
    "text",
    [
        "order_status: [where is it]\nbogus_label: [hi]\n",  # unknown label
        "order_status: [where is it]\n",  # the other labels have no examples
        "- just a list\n",  # not a mapping
    ],
)
def test_malformed_examples_are_rejected(tmp_path, text):
    path = tmp_path / "intents.yaml"
    path.write_text(text)
    with pytest.raises(ExamplesError):
        classifier.load_examples(path)


def test_unquoted_yes_is_rejected(tmp_path):
    lines = [f"{label}: [an example]" for label in LABELS if label != "affirm"]
    path = tmp_path / "intents.yaml"
    path.write_text("\n".join([*lines, "affirm:\n  - yes\n"]))
    with pytest.raises(ExamplesError, match="quote"):
        classifier.load_examples(path)

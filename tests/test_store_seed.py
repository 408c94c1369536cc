"""Seeding and exporting: the demo store goes in and comes back out exactly as `db.json`."""

from __future__ import annotations

import json

import pytest

import shop.__main__ as cli
from shop import seed
from shop.db import make_engine, transaction
from shop.export import dumps, snapshot
from tests.store_support import OWNER, OWNER_CALLS, call, fresh_store


def test_seed_then_export_is_the_original_db_json(tmp_path):
    engine = fresh_store(tmp_path)
    with transaction(engine) as session:
        text = dumps(session)
    assert json.loads(text) == seed.read()
    assert text == seed.DEFAULT_PATH.read_text(encoding="utf-8")  # key order and layout too


def test_seed_refuses_a_non_empty_store_and_reset_restores_it(tmp_path):
    engine = fresh_store(tmp_path)
    call(engine, "modify_user_address", OWNER_CALLS["modify_user_address"], OWNER)

    with pytest.raises(seed.StoreNotEmpty, match="--reset"):
        seed.seed(engine)
    seed.reset(engine)

    with transaction(engine) as session:
        assert snapshot(session) == seed.read()


def test_ensure_seeded_seeds_only_an_empty_store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert seed.ensure_seeded(engine) is True
    assert seed.ensure_seeded(engine) is False
    with transaction(engine) as session:
        assert len(snapshot(session, users=None, orders=[], products=[])["users"]) == 500


def test_command_line_seed_and_export(data_dir, capsys):
    out = data_dir / "export.json"
    assert cli.main(["seed"]) == 0
    assert cli.main(["seed"]) == 1
    assert "--reset" in capsys.readouterr().err
    assert cli.main(["export", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == seed.read()

"""``dropline products | skus | bundles | stock`` on a SQLite file: a product's whole
size × colour matrix in one step, readable tables with full ids, ``--json`` for
scripts, errors in one line with a hint, and help without type tags."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from dropline.cli.app import app

runner = CliRunner()


def cli(url: str, *args: str, columns: int = 200) -> Any:
    return runner.invoke(
        app, list(args), env={"DROPLINE_DATABASE_URL": url, "COLUMNS": str(columns)}
    )


def as_json(url: str, *args: str) -> Any:
    out = cli(url, *args, "--json")
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_a_product_and_its_matrix_in_one_step(sqlite_url: str) -> None:
    made = as_json(
        sqlite_url, "products", "create", "Logo Hoodie", "--price", "65",
        "--colour", "Black", "--colour", "Sand",
        "--size", "XL", "--size", "S", "--size", "M", "--size", "L",
    )  # fmt: skip
    labels = [" / ".join(s["attributes"].values()) for s in made["skus"]]
    assert labels == [
        "Black / S", "Black / M", "Black / L", "Black / XL",
        "Sand / S", "Sand / M", "Sand / L", "Sand / XL",
    ]  # fmt: skip
    assert made["skus"][1]["code"] == "LOGO-HOODIE-BLACK-M"
    assert {s["price"]["amount"] for s in made["skus"]} == {6500}
    # A narrow terminal wraps the other columns, never an id or a code.
    out = cli(sqlite_url, "products", "show", "Logo Hoodie", columns=60)
    assert out.exit_code == 0, out.output
    for s in made["skus"]:
        assert s["id"] in out.output and s["code"] in out.output
    assert "USD 65.00" in out.output and "…" not in out.output
    assert out.output.index("Black / S") < out.output.index("Black / M")


def test_all_or_nothing_and_one_line_errors(sqlite_url: str) -> None:
    as_json(sqlite_url, "products", "create", "Tee", "--price", "20", "--size", "M")
    # TEE-L would be new, TEE-M is taken: the second product is not made at all.
    out = cli(sqlite_url, "products", "create", "Tee", "--price", "20", "--size", "L",
              "--size", "M")  # fmt: skip
    assert out.exit_code == 1
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error [conflict] code 'TEE-M'")
    assert "--code-prefix" in lines[0] and "Traceback" not in out.output
    assert len(as_json(sqlite_url, "products", "list")) == 1
    out = cli(sqlite_url, "products", "create", "Cap", "--price", "65.001")
    assert out.exit_code == 1 and "[validation_error] price '65.001'" in out.output
    out = cli(sqlite_url, "skus", "show", "NOPE")
    assert out.exit_code == 1
    assert out.output.strip() == (
        "error [not_found] no SKU has the id or code 'NOPE' — check the id "
        "(the list commands show every id in full)"
    )


def test_stock_bundles_edits_and_archive(sqlite_url: str) -> None:
    hoodie = as_json(sqlite_url, "products", "create", "Logo Hoodie", "--price", "65",
                     "--colour", "Black", "--size", "M", "--size", "L")  # fmt: skip
    tote = as_json(sqlite_url, "products", "create", "Tote Bag", "--price", "25.00")
    level = as_json(sqlite_url, "stock", "receive", "TOTE-BAG", "100", "--note", "PO 1")
    assert level["available"] == 100 and level["sku_id"] == tote["skus"][0]["id"]
    level = as_json(sqlite_url, "stock", "adjust", "TOTE-BAG", "2", "--from", "available",
                    "--to", "damaged", "--note", "torn")  # fmt: skip
    assert (level["available"], level["damaged"]) == (98, 2)
    counted = as_json(sqlite_url, "stock", "count", "TOTE-BAG", "97", "--note", "cycle")
    assert counted["available"] == 97 and counted["adjusted"] is True
    levels = as_json(sqlite_url, "stock", "list")
    assert [x["label"] for x in levels] == [
        "Logo Hoodie — Black / M", "Logo Hoodie — Black / L", "Tote Bag",
    ]  # fmt: skip
    bundle = as_json(sqlite_url, "bundles", "create", "HOODIE-TOTE", "Hoodie + Tote",
                     "--price", "80", "--item", "LOGO-HOODIE-BLACK-M",
                     "--item", "TOTE-BAG:2")  # fmt: skip
    assert sorted(c["quantity"] for c in bundle["components"]) == [1, 2]
    out = cli(sqlite_url, "bundles", "list")
    assert "1 × Logo Hoodie — Black / M" in out.output and "USD 80.00" in out.output
    edited = as_json(sqlite_url, "skus", "edit", "LOGO-HOODIE-BLACK-M", "--price", "60",
                     "--bin", "A-01-02")  # fmt: skip
    assert edited["price"]["amount"] == 6000 and edited["bin_location"] == "A-01-02"
    as_json(sqlite_url, "bundles", "archive", "HOODIE-TOTE")
    archived = as_json(sqlite_url, "products", "archive", hoodie["id"])
    assert archived["archived"] and all(s["archived"] for s in archived["skus"])
    assert [p["name"] for p in as_json(sqlite_url, "products", "list")] == ["Tote Bag"]
    out = cli(sqlite_url, "bundles", "restore", "HOODIE-TOTE")
    assert out.exit_code == 1 and "[archived]" in out.output and "restore" in out.output
    as_json(sqlite_url, "products", "restore", "Logo Hoodie")
    assert as_json(sqlite_url, "bundles", "restore", "HOODIE-TOTE")["archived"] is False


def test_a_database_without_tables_says_what_to_run(tmp_path: Path) -> None:
    out = cli(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", "products", "list")
    assert out.exit_code == 1
    assert "error [no_schema]" in out.output and "dropline db upgrade" in out.output
    assert "Traceback" not in out.output


def _commands(cmd: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = getattr(cmd, "commands", {})
    out = [path]
    for name, sub in subs.items():
        out += _commands(sub, (*path, name))
    return out


@pytest.mark.parametrize("group", ["products", "skus", "bundles", "stock", "drops"])
def test_help_teaches_without_type_tags(group: str) -> None:
    root = get_command(app)
    paths = [p for p in _commands(root) if p[:1] == (group,)]
    assert len(paths) > 4
    for path in paths:
        out = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert out.exit_code == 0, out.output
        tags = re.findall(r"<(?:str|int|bool|float|list\[\w+\]|path)>", out.output)
        assert not tags, f"{' '.join(path)} --help shows {tags}"
    create = {"products": "create", "skus": "add", "bundles": "create", "stock": "receive",
              "drops": "offer"}[group]  # fmt: skip
    text = runner.invoke(app, [group, create, "--help"], env={"COLUMNS": "100"}).output
    assert "Example" in text and f"dropline {group} {create}" in text

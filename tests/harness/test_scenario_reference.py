"""docs/scenario-ops.md is what the scenario parser's own tables give (issue 21: README sent
readers to a file outside the repository for the op fields)."""
from __future__ import annotations

import re

import pytest

from loadtnt.scenario import model, parse, reference
from loadtnt.scenario.opspec import OP_FIELDS, OP_REQUIRED, STATIC_FIELDS
from tests.harness.conftest import ROOT

DOC = ROOT / "docs" / "scenario-ops.md"
HEAD = "drivers: [loadtnt]\nduration: 1s\n"

# a value for each field, to build ops with exactly their required fields
SAMPLE = {"space": "tester", "key": [1], "tuple": [1, "x"], "operations": [["=", 2, "y"]],
          "function": "f", "expression": "return 1", "query": "SELECT 1", "args": [1],
          "index": 0, "iterator": "EQ", "limit": 1, "offset": 0, "isolation": "default",
          "object": {"id": 1}, "tuples": [[1, "x"]], "objects": [{"id": 1}],
          "conditions": [[">=", "id", 1]], "fields": ["id"]}


def test_the_page_is_what_the_tables_give() -> None:
    assert DOC.read_text() == reference.render(), (
        "docs/scenario-ops.md is stale: python -m loadtnt.scenario.reference > "
        "docs/scenario-ops.md")


def test_readme_points_at_the_page_not_outside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/scenario-ops.md" in readme
    assert "../shared/design.md" not in readme and "design.md" not in readme


@pytest.mark.parametrize("op", list(OP_FIELDS))
def test_each_op_row_matches_what_the_parser_accepts(op: str) -> None:
    row = next(ln for ln in DOC.read_text().splitlines() if ln.startswith(f"| `{op}` |"))
    required = re.findall(r"\*\*`(\w+)`\*\*", row)
    shown = re.findall(r"`(\w+)`", row.split("|")[3])
    assert required == list(OP_REQUIRED[op]) and shown == list(OP_FIELDS[op])
    fields = {f: SAMPLE[f] for f in required if f != "steps"}
    if op == "transaction":
        fields["steps"] = [{"op": "select", "space": "tester"}]
    sc = parse.loads(HEAD + "operations:\n  - " + repr({"op": op, **fields}).replace("'", '"'))
    assert sc.operations[0].op == op
    for missing in [f for f in required if f != "steps"]:  # each required one is required
        text = repr({"op": op, **{k: v for k, v in fields.items() if k != missing}})
        with pytest.raises(model.ScenarioError, match=f"{missing}: missing"):
            parse.loads(HEAD + "operations:\n  - " + text.replace("'", '"'))
    with pytest.raises(model.ScenarioError, match="unknown key"):
        parse.loads(HEAD + "operations:\n  - " + repr({"op": op, **fields, "bogus": 1})
                    .replace("'", '"'))
    for f in OP_FIELDS[op]:  # a constant field refuses a generator, as the page says
        if f in STATIC_FIELDS and f in SAMPLE:
            text = repr({"op": op, **fields, f: {"uniform": [1, 2]}}).replace("'", '"')
            with pytest.raises(model.ScenarioError, match="must be a constant|unknown isolation"):
                parse.loads(HEAD + "operations:\n  - " + text)


def test_the_pages_example_parses() -> None:
    first, crud = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    sc = parse.loads(HEAD + first)
    assert [op.op for op in sc.operations] == ["select", "update", "transaction"]
    sc = parse.loads(HEAD + crud)  # the crud section's example: a sharded cluster
    assert [op.op for op in sc.operations] == ["crud.get", "crud.select", "crud.insert_object"]
    assert sc.sharded and sc.setups[0].sharded is not None

"""``make lint``'s dependency audit: vulnerabilities fail it, an index with no data
does not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "tools/audit_deps.py")
assert _spec and _spec.loader
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def test_a_known_vulnerability_fails_the_step() -> None:
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "3.1.2", "vulns": [
                {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]},
            {"name": "httpx", "version": "0.28.1", "vulns": []},
        ]
    }  # fmt: skip
    lines, code = audit.verdict(report)
    assert code == 1
    assert lines[0] == "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"
    assert lines[-1] == "dependency audit: 1 known vulnerabilities"


def test_no_data_from_the_index_passes_and_says_so() -> None:
    report = {"dependencies": [{"name": "x", "skip_reason": "Dependency not found on PyPI"}]}
    lines, code = audit.verdict(report)
    assert code == 0 and "skipped" in lines[0]


def test_a_clean_audit_passes() -> None:
    report = {"dependencies": [{"name": "x", "version": "1", "vulns": []}]}
    assert audit.verdict(report) == (["dependency audit: 1 packages, no known vulnerabilities"], 0)

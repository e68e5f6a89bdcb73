"""The OpenAPI schema is complete: generated without a single warning, every endpoint in it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_generates_without_warnings(tmp_path):
    out = subprocess.run([sys.executable, "manage.py", "spectacular", "--fail-on-warn", "--file", str(tmp_path / "s.yml")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    text = (tmp_path / "s.yml").read_text()
    for path in ("/api/rate/{slug}/join/", "/api/rate/{slug}/next/", "/api/studies/{slug}/report/",
                 "/api/studies/{slug}/import/judgments/", "/api/jobs/{job_id}/"):
        assert path in text

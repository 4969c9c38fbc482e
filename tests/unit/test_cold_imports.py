"""What a cold start imports: `import app` none of the heavy client libraries (each
route imports its own on first use; timings are bench/cold_start.py's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "aws_lambda_powertools",
    "boto3",
    "botocore",
    "cryptography",
    "jwt",
    "pydantic",
    "pymongo",
    "redis",
    "urllib3",
)


def test_importing_the_app_loads_no_client_library() -> None:
    probe = (
        "import json, sys; import app; "
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert json.loads(out.stdout) == []

"""The README's examples run as pasted: its Python blocks in process, its shell session for real.

Every fenced block of README.md runs unless an HTML comment ``<!-- readme-test: skip ... -->``
right before it says why not (``make demo`` serves until Ctrl-C; a Prometheus configuration
is not a command). Python blocks that use ``freshrec.Client`` talk to the server the shell
blocks start, so they run inside that shell session, in README order, as
``python - <<'EOF'`` (they read ``$KEY`` from it). The session runs in a temporary folder
holding a link to the repository's ``.venv`` (the README says: from the repository root),
under ``set -e``; the only changes to the text are the port, and only when 8000 is taken
on this machine, and a ``wait`` for the server's shutdown at the end. Each ``curl`` answer
is checked: JSON, and never an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- readme-test: skip[^>]*-->\n)?```(\w+)\n(.*?)```", re.S)
CLIENT = "freshrec.Client("
# Each curl answer on a line of its own, marked, so the test can read them back.
HARNESS = (
    'curl() { printf "@@curl "; command curl -s "$@"; local status=$?; echo; return $status; }\n'
    "set -e\n"
)


def _blocks() -> list[tuple[str, str]]:
    found = BLOCK.findall(README.read_text(encoding="utf-8"))
    return [(language, body) for skipped, language, body in found if not skipped]


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [body for language, body in _blocks() if language == "python"]
    local = [body for body in blocks if CLIENT not in body]
    assert local, "README.md has no Python quick start"
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(local):
        exec(compile(block, f"README.md python block {number}", "exec"), {})


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _session() -> str:
    parts = [HARNESS]
    for language, body in _blocks():
        if language == "bash":
            parts.append(body)
        elif language == "python" and CLIENT in body:
            parts.append(f"python - <<'README_PYTHON'\n{body}README_PYTHON\n")
    # Let the server finish its shutdown before the folder goes (it exits by SIGTERM: 143).
    parts.append("wait $SERVER || true\n")
    script = "\n".join(parts)
    if _port_in_use(8000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            script = re.sub(r"\b8000\b", str(sock.getsockname()[1]), script)
    return script


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl")
def test_readme_shell_session_runs_against_a_real_server(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "activate").exists():
        pytest.skip("no .venv in the repository (make install creates it)")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    process = subprocess.Popen(
        ["bash", "-c", _session()],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # the server it starts goes in the same group
    )
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group may have ended already
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    # Marked lines with no body are the readiness probe's (``curl -sf ... >/dev/null``).
    marked = [line for line in output.splitlines() if line.startswith("@@curl {")]
    marked += [line for line in output.splitlines() if line.startswith("@@curl [")]
    answers = [json.loads(line[len("@@curl ") :]) for line in marked]
    assert len(answers) >= 8, output
    for answer in answers:
        assert "error" not in answer, answer
    by_shape = {tuple(sorted(a)) if isinstance(a, dict) else ("list",): a for a in answers}
    assert any("recommendation_id" in a and a.get("items") for a in answers), output
    recommended = next(a for a in answers if a.get("scenario") == "home")
    assert recommended["items"][0]["item_id"] == "i2"  # u2 follows u1 from i1 to i2
    forgotten = by_shape[("events", "lists", "profile", "user_id")]
    assert forgotten["user_id"] == "u1" and forgotten["events"] == 2
    assert re.search(r"^freshrec \d+\.\d+", output, re.M), output  # freshrec --version
    # The Python client's prints: a recommendation id and the forgotten user's receipt.
    assert "Forgotten(user_id='u3'" in output, output

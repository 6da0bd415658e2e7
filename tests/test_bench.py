"""Smoke runs of scripts/bench and scripts/bench-adapters: they work end to end and print every row. Their figures
are printed, and asserted only to be there (above zero): two shared cores make timing asserts flaky (issue 10)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sourdine import native

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench"
ADAPTERS_BENCH = BENCH.with_name("bench-adapters")
ROWS = ["added p50, cold", "added p50, warm", "p99 / p50", "feed throughput, cold", "feed throughput, warm",
        "HTTPS to a non-platform host", "20 posts x 3,000 characters", "start-up to ready", "idle RSS"]


def test_bench_smoke_run_prints_every_budget_row(tmp_path):
    """scripts/bench with 4 requests per workload runs, filters (its own count check), and reports each budget."""
    result = subprocess.run([sys.executable, str(BENCH), "--requests", "4", "--startups", "1", "--json",
                             str(tmp_path / "bench.json")], capture_output=True, text=True, timeout=240)
    print(result.stdout)
    assert result.returncode == 0, result.stderr[-3000:]
    for row in ROWS:
        assert any(line.startswith(row) for line in result.stdout.splitlines()), row
    assert "not decrypted" in result.stdout
    assert "plain mitmproxy's own p99 / p50 in this run: up to " in result.stdout
    assert "plain mitmproxy's own start, to listening on its port, in this run: " in result.stdout
    figures = json.loads((tmp_path / "bench.json").read_text())
    name, spread = figures["_plain_spread"]
    assert name.endswith((" cold", " warm")) and spread >= 1
    [plain_start] = figures["_startup"]["plain_listening_s"]  # one start timed, as Sourdine's
    assert plain_start > 0
    # Which build ran (a stale compiled build runs as pure Python, and its figures mean something else): the
    # one this process loads.
    assert f"sourdine: scoring and filtering {native.state}\n" in result.stdout


def _page_rows(stdout: str) -> dict[str, list[float]]:
    rows = {}
    for line in stdout.splitlines()[1:]:
        name, _kb, *figures = line.split()
        rows[name] = [float(f.removesuffix("ms")) for f in figures]
    return rows


def test_bench_adapters_runs_by_stages_and_whole():
    """scripts/bench-adapters, both ways: by stages (seven figures and their total) and the engine's whole call
    (decode, filter, total), each a time above zero; cold, so every run scores new posts. With --whole it exits
    with an error when the engine leaves a page as it came (its route or its posts not found)."""
    for whole, page, columns in ((False, "youtube", 8), (True, "mastodon", 3)):
        command = [sys.executable, str(ADAPTERS_BENCH), "--runs", "3", "--cold", "--cpu", "--only", f"^{page}$"]
        result = subprocess.run(command + (["--whole"] if whole else []), capture_output=True, text=True,
                                timeout=120)
        print(result.stdout)
        assert result.returncode == 0, result.stderr[-3000:]
        rows = _page_rows(result.stdout)
        assert list(rows) == [page]
        figures = rows[page]
        assert len(figures) == columns
        assert figures[-1] > 0 and all(f >= 0 for f in figures)
        if whole:
            assert result.stdout.split()[2:5] == ["decode", "filter", "total"]
            assert figures[1] > 0

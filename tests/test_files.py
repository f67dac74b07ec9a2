"""Files a cron job can trust: atomic, mode-keeping, symlink-following writes; special files refused; disk-full,
a closed pipe and SIGTERM handled; the README's cron line run as cron would run it (issue #11)."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mentionwatch.errors import OutputError, UsageError
from mentionwatch.output import BrokenStdout, atomic_file, usable_output_path, write_stdout

from conftest import LoopbackServer, Reply, Run, cli_command, cli_env, fixture_path

HN = fixture_path("hackernews", "search_by_date_query_nodejs_2017.json").read_bytes()
JSON = {"content-type": "application/json"}


def hn_config(tmp_path: Path, server: LoopbackServer, *, name: str = "mw.yaml", slow: bool = False) -> Path:
    path = tmp_path / name
    extra = f"  - type: hackernews\n    name: slow\n    base_url: {server.url}/slow/api/v1\n" if slow else ""
    path.write_text(
        "since: 2017-01-01\nbrands:\n  - name: Node.js\n    terms: [Node.js]\nsources:\n"
        f"  - type: hackernews\n    base_url: {server.url}/api/v1\n    max_pages: 1\n{extra}",
        encoding="utf-8",
    )
    return path


# -- atomic_file and the checks before a scan


def test_a_file_keeps_its_mode_when_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    target.chmod(0o600)
    with atomic_file(target) as out:
        out.write("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "new.jsonl") as out:
            out.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.jsonl").stat().st_mode) == 0o644


def test_a_symlink_is_written_through_not_replaced(tmp_path: Path) -> None:
    real = tmp_path / "data" / "mentions.csv"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    with atomic_file(link) as out:
        out.write("new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"


def test_the_temp_file_is_removed_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as out:
        out.write("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_two_writers_of_one_file_never_share_a_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    started = threading.Barrier(2)
    contents = {"a": "a" * 200_000 + "\n", "b": "b" * 200_000 + "\n"}

    def writer(name: str) -> None:
        with atomic_file(target) as out:
            started.wait()
            for _ in range(10):
                out.write(contents[name][:20_000])
                time.sleep(0.001)
            out.write(contents[name][200_000:])

    threads = [threading.Thread(target=writer, args=(n,)) for n in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = target.read_text()
    assert text in ("a" * 200_000 + "\n", "b" * 200_000 + "\n")  # one whole file, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_missing_folders_are_created_before_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "out" / "2026" / "12-04.csv"
    assert usable_output_path(path, "-o") == path
    assert path.parent.is_dir() and not path.exists()


@pytest.mark.parametrize("special", ["/dev/full", "/dev/null"])
def test_a_device_is_refused(special: str) -> None:
    with pytest.raises(UsageError, match="not a regular file"):
        usable_output_path(Path(special), "-o")


def test_a_folder_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UsageError, match="cannot create its folder"):
        usable_output_path(blocker / "out.csv", "--health")


def test_a_full_disk_on_stdout_is_an_output_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with open("/dev/full", "w", encoding="utf-8") as full:
        monkeypatch.setattr(sys, "stdout", full)
        with pytest.raises(OutputError, match="cannot write to stdout: No space left on device"):
            write_stdout(lambda out: out.write("x" * 100_000))


def test_a_closed_pipe_is_broken_stdout_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as pipe:
        monkeypatch.setattr(sys, "stdout", pipe)
        with pytest.raises(BrokenStdout):
            write_stdout(lambda out: out.write("x" * 100_000))
        os.dup2(os.open(os.devnull, os.O_WRONLY), pipe.fileno())  # what write_stdout did; checked by not failing


# -- the command


def test_every_source_failing_keeps_the_last_good_file(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    out = tmp_path / "mentions.csv"
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON))
    assert cli("scan", "-c", str(hn_config(tmp_path, server)), "-o", str(out), "-q").code == 0
    good = out.read_text(encoding="utf-8")
    assert good.count("\n") > 1
    server.route("/api/v1/search_by_date", Reply(401, b"{}"))
    run = cli("scan", "-c", str(hn_config(tmp_path, server)), "-o", str(out), "-q")
    assert run.code == 4
    assert out.read_text(encoding="utf-8") == good
    assert "left as it was" in run.stderr


def test_sources_that_failed_after_giving_mentions_still_write_them(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    # One rss source, two feeds: one answers, one fails. The source has failed (exit 4: every source failed), but
    # it gave mentions: they are written, as stdout would have printed them, not dropped for the old file.
    alerts = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()
    server.route("/good.xml", Reply(200, alerts, {"content-type": "application/atom+xml"}))
    server.route("/bad.xml", Reply(404, b"gone"))
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "since: 2017-01-01\nbrands:\n  - name: Slack\n    terms: [Slack]\nsources:\n  - type: rss\n"
        f"    urls: [{server.url}/good.xml, {server.url}/bad.xml]\n",
        encoding="utf-8",
    )
    out = tmp_path / "mentions.jsonl"
    out.write_text("old\n", encoding="utf-8")
    run = cli("scan", "-c", str(cfg), "-o", str(out), "-q")
    assert run.code == 4 and "left as it was" not in run.stderr
    written = out.read_text(encoding="utf-8")
    assert written.count("\n") == 20 and not written.startswith("old\n")


def test_an_unusable_output_path_exits_2_before_fetching(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON))
    (tmp_path / "blocker").write_text("x")
    for flag in ("-o", "--health"):
        run = cli("scan", "-c", str(hn_config(tmp_path, server)), flag, str(tmp_path / "blocker" / "f.json"))
        assert run.code == 2, run.stderr
        assert "cannot create its folder" in run.stderr and "Traceback" not in run.stderr
    run = cli("scan", "-c", str(hn_config(tmp_path, server)), "-o", "/dev/full")
    assert run.code == 2 and "not a regular file" in run.stderr
    assert server.requests == []


@pytest.mark.e2e
def test_a_closed_pipe_ends_the_scan_quietly(tmp_path: Path, server: LoopbackServer) -> None:
    # The reader is gone before the first line is written (as when `head -1` has had its line and the scan
    # writes the rest): the write fails with EPIPE, which ends the scan without a word.
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON, stall=0.5))
    proc = subprocess.Popen(
        cli_command("scan", "-c", str(hn_config(tmp_path, server)), "-f", "jsonl", "-q"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(tmp_path),
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert stderr == ""
    assert server.requests, "the scan ran: it was the write that ended it"


@pytest.mark.e2e
def test_stdout_on_a_full_disk_exits_5_with_one_line(tmp_path: Path, server: LoopbackServer) -> None:
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON))
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            cli_command("scan", "-c", str(hn_config(tmp_path, server)), "-f", "jsonl", "-q"),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(tmp_path),
            cwd=tmp_path,
            timeout=60,
        )
    assert proc.returncode == 5
    assert proc.stderr.splitlines() == ["mentionwatch: error: cannot write to stdout: No space left on device"]


@pytest.mark.e2e
def test_sigterm_writes_what_was_gathered_and_exits_143(tmp_path: Path, server: LoopbackServer) -> None:
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON))
    server.route("/slow/api/v1/search_by_date", Reply(200, HN, JSON, stall=60))
    out = tmp_path / "out" / "mentions.jsonl"
    proc = subprocess.Popen(
        cli_command("scan", "-c", str(hn_config(tmp_path, server, slow=True)), "-o", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while not any(r.path.startswith("/slow/") for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the fast source's answer be read
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows and {r["source"] for r in rows} == {"hackernews"}
    assert "terminated; printed what was gathered" in stderr


@pytest.mark.e2e
def test_the_readme_cron_line_runs_as_cron_would_run_it(tmp_path: Path, server: LoopbackServer) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```cron\n(.*?)\n```", readme, re.DOTALL)
    assert match, "the README has a crontab line"
    schedule_and_command = match.group(1).strip()
    command = schedule_and_command.split(None, 5)[5]
    # crontab(5): an unescaped % ends the command (the rest is its stdin); `\%` is a literal %.
    assert re.search(r"(?<!\\)%", command) is None
    command = command.replace("\\%", "%").replace("/srv/mentions", str(tmp_path))
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON))
    hn_config(tmp_path, server, name="mentionwatch.yaml")
    (tmp_path / "bin").mkdir()
    mail = tmp_path / "bin" / "mail"  # cron's `mail` must not be needed: the scan succeeds
    mail.write_text("#!/bin/sh\necho mail was called >> \"$0.log\"\n")
    mail.chmod(0o755)
    env = cli_env(tmp_path)
    env["PATH"] = f"{tmp_path / 'bin'}:{Path(cli_command()[0]).parent}:{env['PATH']}"
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "bin" / "mail.log").exists()
    [csv_file] = (tmp_path / "out").glob("*.csv")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.csv", csv_file.name)
    assert csv_file.read_text(encoding="utf-8").startswith("source,id,url,")
    health = json.loads((tmp_path / "out" / "health.json").read_text(encoding="utf-8"))
    assert health["exit_code"] == 0


def test_an_unwritable_record_folder_exits_2_before_fetching(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON))
    (tmp_path / "blocker").write_text("x")
    run = cli("scan", "-c", str(hn_config(tmp_path, server)), "--record", str(tmp_path / "blocker" / "bundle"))
    assert run.code == 2 and "cannot write the recording there" in run.stderr
    assert server.requests == []


# -- SIGTERM during a write: the temp file is removed (only SIGKILL, which no process can handle, leaves one)

# A write that SIGTERM interrupts half-way, deterministically: the process sends it to itself.
WRITE_TERMINATED = """
import os, signal, sys
from pathlib import Path
from mentionwatch.output import atomic_file

if sys.argv[2] == "scan":  # as a scan holds the signals, from its start until its output is written
    from mentionwatch.pipeline import Interrupts

    Interrupts().hold()
with atomic_file(Path(sys.argv[1])) as out:
    out.write("half of the new file")
    for _ in range(int(sys.argv[3])):
        os.kill(os.getpid(), signal.SIGTERM)
    out.write(" and the rest")
"""


def write_terminated(tmp_path: Path, target: Path, holder: str, signals: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WRITE_TERMINATED, str(target), holder, str(signals)],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path),
        timeout=60,
    )


@pytest.mark.e2e
def test_sigterm_during_a_file_write_removes_the_temp_file_and_keeps_the_old_file(tmp_path: Path) -> None:
    # Any command's file (report -o, --health, an edited config): nothing else handles SIGTERM there.
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    target.write_text("the old report")
    proc = write_terminated(tmp_path, target, "none", 1)
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    assert target.read_text() == "the old report"
    assert (proc.returncode, proc.stderr) == (143, "")


@pytest.mark.e2e
def test_a_scans_output_write_finishes_after_one_sigterm_and_a_second_ends_it_without_a_temp_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out" / "mentions.jsonl"
    target.parent.mkdir()
    once = write_terminated(tmp_path, target, "scan", 1)
    assert once.returncode == 0, once.stderr  # what ends a scan after its write is the scan's (cli/scan.py)
    assert target.read_text() == "half of the new file and the rest"
    twice = write_terminated(tmp_path, target, "scan", 2)
    assert sorted(p.name for p in target.parent.iterdir()) == ["mentions.jsonl"]
    assert target.read_text() == "half of the new file and the rest", "the file written before is kept"
    assert (twice.returncode, twice.stderr) == (143, "")

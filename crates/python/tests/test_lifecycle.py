"""How calls end when asked to, or when Python does: Ctrl-C, a Canceller,
asyncio's cancellations and timeouts, and interpreter exit with a call in a
daemon thread. Each leaves the store and its manifest true."""

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import variegate
import variegate.aio

# 200 two-colour palettes on retina.jpg at one thread: a few seconds of work.
PALETTES = [{"name": f"p{i}", "colors": ["#%06X" % (i * 40503 % 0xFFFFFF), "#102030"]} for i in range(200)]
PREAMBLE = """
import asyncio, sys, threading, time, variegate, variegate.aio
palettes = [{"name": f"p{i}", "colors": ["#%06X" % (i * 40503 % 0xFFFFFF), "#102030"]} for i in range(200)]
"""


def manifest_of(out):
    return json.loads(next(out.rglob("manifest.json")).read_text())


def assert_cancelled(manifest, reason):
    assert manifest["status"] == "interrupted" and manifest["interrupted"] == reason, manifest["interrupted"]
    assert manifest["stored"] > 0 and manifest["cancelled"] > 0
    assert manifest["stored"] + manifest["cancelled"] == len(PALETTES)


def assert_ended(out):
    """No variation is written after the call has ended."""
    written = sorted(out.rglob("*.png"))
    time.sleep(0.5)
    assert sorted(out.rglob("*.png")) == written


def interrupt_script(tmp_path, body):
    """A script that prints "calling", runs `body`, and prints "interrupted"
    and the time when KeyboardInterrupt arrives; returns that time less
    when SIGINT was sent, 1.5 s after "calling"."""
    script = tmp_path / "interrupted.py"
    script.write_text(PREAMBLE + textwrap.dedent(f"""
        print("calling", flush=True)
        try:
            {body}
            print("finished", flush=True)
        except KeyboardInterrupt:
            print("interrupted", time.monotonic(), flush=True)
    """))
    return script


def sigint_after(script, *args):
    child = subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "calling"
    time.sleep(1.5)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    line = child.communicate(timeout=60)[0].strip()
    assert line.startswith("interrupted"), line
    return float(line.split()[1]) - sent


def test_ctrl_c_cancels_the_call_within_a_second_and_keeps_the_record(testdata, tmp_path):
    script = interrupt_script(tmp_path, "variegate.run(sys.argv[1], palettes, out=sys.argv[2], threads=1)")
    out = tmp_path / "out"
    assert sigint_after(script, testdata / "retina.jpg", out) < 1.0
    assert_cancelled(manifest_of(out), "SIGINT")


def test_a_canceller_stops_a_call_from_another_thread(testdata, tmp_path):
    canceller = variegate.Canceller()
    threading.Timer(1.0, canceller.cancel).start()
    out = tmp_path / "out"
    report = variegate.run(testdata / "retina.jpg", PALETTES, out=str(out), threads=1, canceller=canceller)
    cancelled_at = time.monotonic()
    assert canceller.cancelled and report == manifest_of(out)
    assert_cancelled(report, "Canceller.cancel")
    assert_ended(out)
    made = variegate.recolour(testdata / "retina.jpg", PALETTES, threads=1, canceller=canceller)
    assert {v.error for v in made} == {"cancelled (Canceller.cancel) before it was made"}
    assert time.monotonic() - cancelled_at < 1.0


@pytest.mark.parametrize("how", ["timeout", "task.cancel"])
def test_cancelling_an_asyncio_call_cancels_its_job(testdata, tmp_path, how):
    out = tmp_path / "out"

    async def service():
        call = variegate.aio.run(testdata / "retina.jpg", PALETTES, out=str(out), threads=1)
        started = time.monotonic()
        if how == "timeout":
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(call, 1.0)
        else:
            task = asyncio.ensure_future(call)
            await asyncio.sleep(1.0)
            task.cancel("the client went away")
            with pytest.raises(asyncio.CancelledError):
                await task
        return time.monotonic() - started

    took = asyncio.run(service())
    assert took < 2.0, took  # 1 s, then the job ends within about a second
    assert_cancelled(manifest_of(out), "asyncio task cancelled" if how == "timeout" else "the client went away")
    assert_ended(out)


def test_ctrl_c_under_asyncio_run_cancels_the_job(testdata, tmp_path):
    body = "asyncio.run(variegate.aio.run(sys.argv[1], palettes, out=sys.argv[2], threads=1))"
    out = tmp_path / "out"
    assert sigint_after(interrupt_script(tmp_path, body), testdata / "retina.jpg", out) < 1.0
    assert_cancelled(manifest_of(out), "asyncio task cancelled")


@pytest.mark.parametrize("call", ["run", "recolour"])
def test_interpreter_exit_with_a_call_in_a_daemon_thread_ends_with_the_main_threads_status(testdata, tmp_path, call):
    """CPython up to 3.13 ends such a thread with a forced unwind when it
    takes the GIL back, which aborted the process (SIGABRT, "FATAL:
    exception not rethrown")."""
    script = tmp_path / "daemon.py"
    script.write_text(PREAMBLE + textwrap.dedent("""
        def work():
            if sys.argv[3] == "run":
                variegate.run(sys.argv[1], palettes, out=sys.argv[2], threads=1)
            else:
                variegate.recolour(sys.argv[1], palettes, threads=1)
        threading.Thread(target=work, daemon=True).start()
        time.sleep(1)
        sys.exit(int(sys.argv[4]))
    """))
    for attempt, status in enumerate([0, 3, 0, 3, 0]):
        out = tmp_path / f"out-{attempt}"
        started = time.monotonic()
        child = subprocess.run([sys.executable, str(script), testdata / "retina.jpg", out, call, str(status)],
                               capture_output=True, text=True, timeout=60)
        assert (child.returncode, child.stderr) == (status, ""), attempt
        assert time.monotonic() - started < 1 + 2 + 1  # the sleep, the grace at most, the start
        if call == "run":
            assert_cancelled(manifest_of(out), "interpreter shutdown")

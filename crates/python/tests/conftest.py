"""Fixtures of the Python package's tests: the repository's test images,
the command line built beside them (to compare bytes with), and a real
S3-compatible server on 127.0.0.1 (moto's)."""

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

TESTDATA = Path(__file__).resolve().parents[3] / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    return TESTDATA


@pytest.fixture(scope="session")
def palettes():
    return json.loads((TESTDATA / "palettes.json").read_text())


@pytest.fixture(scope="session")
def cli() -> str:
    """The `variegate` binary of the same build (tests/pytest.rs sets it)."""
    path = os.environ.get("VARIEGATE_CLI")
    if not path:
        pytest.fail("VARIEGATE_CLI is not set: run these tests through `cargo test -p variegate-py`")
    return path


@pytest.fixture
def run_cli(cli, tmp_path):
    """Runs `variegate run IMAGE --palettes palettes.json ARGS` into a
    folder of its own; returns {palette index: stored bytes}."""

    def run(image: Path, *args: str) -> dict:
        out = tmp_path / "cli"
        report = tmp_path / "cli-report.json"
        subprocess.run(
            [cli, "run", str(image), "--palettes", str(TESTDATA / "palettes.json"), "--out", str(out),
             "--report", str(report), "--quiet", *args],
            check=True,
        )
        manifest = json.loads(report.read_text())
        return {v["index"]: (out / v["key"]).read_bytes() for v in manifest["variations"]}

    return run


@pytest.fixture(scope="session")
def s3():
    """A moto S3 server on a free port of 127.0.0.1 with an empty bucket
    `variations`; yields the `storage_options` that reach it."""
    from moto.server import ThreadedMotoServer
    import boto3

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    options = {
        "aws_endpoint": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="variations")
    yield {"options": options, "client": client}
    server.stop()

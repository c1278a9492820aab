"""variegate.run and create_palette_variations: the CLI's store layout and
manifest, and the original service's call against a real S3 server."""

import asyncio
import json
import logging
import urllib.request

import pytest

import variegate
import variegate.aio


def test_run_stores_what_the_cli_stores(testdata, palettes, run_cli, tmp_path):
    image = testdata / "coffee.png"
    cli = run_cli(image)
    out = tmp_path / "py"
    report = variegate.run(image, palettes, out=str(out))
    assert report["status"] == "complete" and report["stored"] == len(palettes)
    assert "manifest_error" not in report
    stored = json.loads((out / report["folder"] / "manifest.json").read_text())
    for key in ("status", "source", "recipe", "digest", "folder", "stored"):
        assert stored[key] == report[key], key
    for outcome in report["variations"]:
        assert outcome["status"] == "stored"
        assert (out / outcome["key"]).read_bytes() == cli[outcome["index"]]
        assert outcome["url"] == (out / outcome["key"]).as_uri()


def test_sizes_for_a_srcset_decode_at_their_sizes(testdata, palettes, tmp_path):
    import io

    from PIL import Image

    out = tmp_path / "sized"
    report = variegate.run(testdata / "retina.jpg", palettes[:2], out=str(out), format="webp", sizes=[480, 960, 1920])
    assert report["status"] == "complete" and report["recipe"]["sizes"] == [480, 960, 1920]
    for outcome in report["variations"]:
        assert [size["width"] for size in outcome["sizes"]] == [480, 960, 1411]  # 1920 > 1411: the image itself
        for size in outcome["sizes"]:
            decoded = Image.open(io.BytesIO((out / size["key"]).read_bytes()))
            assert decoded.format == "WEBP" and decoded.size == (size["width"], size["height"])
        names = [size["key"].rsplit("/", 1)[1] for size in outcome["sizes"]]
        assert outcome["srcset"] == ", ".join(f"{n} {w}w" for n, w in zip(names, [480, 960, 1411]))
    with pytest.raises(ValueError, match=r"^invalid option sizes: at most 8 sizes, not 9$"):
        variegate.run(testdata / "coffee.png", palettes, out=str(out), sizes=range(1, 10))


def test_a_palette_that_cannot_work_is_refused_before_any_work(testdata, palettes, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(variegate.PaletteError, match=r'^palettes: palette 2 \("Empty"\): no colours$'):
        variegate.run(testdata / "coffee.png", [palettes[0], {"name": "Empty", "colors": []}], out=str(out))
    assert not out.exists()


def test_an_image_name_on_more_than_one_line_is_refused(testdata, palettes, tmp_path):
    with pytest.raises(ValueError, match=r"invalid option name: .* control character \(U\+000A\)"):
        variegate.run(testdata / "coffee.png", palettes, out=str(tmp_path), name="a\nb")


def test_an_unreachable_store_raises_store_error(testdata, palettes):
    options = {"aws_endpoint": "http://127.0.0.1:9", "aws_allow_http": "true", "aws_region": "us-east-1",
               "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    with pytest.raises(variegate.StoreError, match=r'^store "s3://nowhere/v" does not answer'):
        variegate.run(testdata / "coffee.png", palettes, out="s3://nowhere/v", storage_options=options, retries=0)
    assert issubclass(variegate.StoreError, OSError)
    with pytest.raises(variegate.StoreError, match=r"unsupported scheme"):
        variegate.run(testdata / "coffee.png", palettes, out="ftp://host/v")


def test_store_settings_unfit_for_a_header_or_url_raise_store_error(testdata, palettes):
    # A secret read from a file keeps its newline; object_store would panic on these.
    base = {"aws_region": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    for key, value, said in [
        ("aws_region", "us-east-1\n", "has a line break in it"),
        ("aws_endpoint", "127.0.0.1:9000", "is not a URL"),
        ("aws_endpoint", "http://127.0.0.1:9000 ", "is not a URL: it has a space"),
        ("aws_endpoint", "http://[::1", "is not a URL"),
        ("aws_session_token", "ab\x01c", "has a control character in it"),
        ("aws_access_key_id", "AK IA", "has a space in it"),
    ]:
        with pytest.raises(variegate.StoreError, match=rf'^store "s3://b/v": storage option {key} ') as raised:
            variegate.run(testdata / "coffee.png", palettes, out="s3://b/v", storage_options={**base, key: value})
        assert said in str(raised.value) and "\n" not in str(raised.value)


def test_link_lives_and_deadlines_keep_to_the_cli_ranges(testdata, palettes):
    # S3 signs for 7 days at most; a link of 0.4 s would be signed expired.
    for option, value in [("url_ttl", 10**7), ("url_ttl", 0), ("deadline", 0.5)]:
        with pytest.raises(ValueError, match=rf"^invalid option {option}: "):
            variegate.run(testdata / "coffee.png", palettes, out="memory://", **{option: value})
    with pytest.raises(TypeError, match=r"^option url_ttl=0.4: "):
        variegate.run(testdata / "coffee.png", palettes, out="memory://", url_ttl=0.4)
    report = variegate.run(testdata / "coffee.png", palettes[:1], out="memory://", url_ttl=604800, deadline=1)
    assert report["stored"] == 1


def check_service_results(s3, palettes, results, user_id):
    """Each result is its palette's dict, every key kept, plus a key under
    the user's folder and a working link to an object carrying the palette."""
    assert [r["name"] for r in results] == [p["name"] for p in palettes]
    for palette, result in zip(palettes, results):
        assert {k: result[k] for k in palette} == palette
        assert set(result) == set(palette) | {"image_path", "image_url"}
        assert result["image_path"].startswith(f"{user_id}/coffee-")
        assert result["image_path"].endswith(".png")
        with urllib.request.urlopen(result["image_url"]) as response:
            linked = response.read()
            assert response.headers["Content-Type"] == "image/png"
        stored = s3["client"].get_object(Bucket="variations", Key=f"service/{result['image_path']}")
        assert stored["Body"].read() == linked and linked.startswith(b"\x89PNG")
        assert stored["Metadata"]["palette_name"] == palette["name"]
        assert json.loads(stored["Metadata"]["palette_colors"]) == [c.upper() for c in palette["colors"]]
        assert stored["Metadata"]["palette_description"] == palette["description"]


def service_palettes(palettes):
    # The service's palettes carry fields of its own; they come back.
    return [{**p, "id": 100 + i, "tags": ["warm"] if i % 2 else []} for i, p in enumerate(palettes)]


def test_create_palette_variations_on_s3(s3, testdata, palettes):
    wanted = service_palettes(palettes)
    results = variegate.create_palette_variations(
        (testdata / "coffee.png").read_bytes(), wanted, "user-42", 0.75,
        out="s3://variations/service", storage_options=s3["options"], name="coffee.png",
    )
    check_service_results(s3, wanted, results, "user-42")
    # blend_strength is the shift look's blend: another strength, other images.
    other = variegate.create_palette_variations(
        (testdata / "coffee.png").read_bytes(), wanted[:1], "user-42", 0.5,
        out="s3://variations/service", storage_options=s3["options"], name="coffee.png",
    )
    assert other[0]["image_path"] != results[0]["image_path"]


def test_create_palette_variations_in_asyncio_leaves_the_loop_free(s3, testdata, palettes):
    wanted = service_palettes(palettes)
    data = (testdata / "coffee.png").read_bytes()

    async def service():
        ticks = 0

        async def heartbeat():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        beating = asyncio.ensure_future(heartbeat())
        results = await variegate.aio.create_palette_variations(
            data, wanted, "user-7", out="s3://variations/service", storage_options=s3["options"], name="coffee.png"
        )
        beating.cancel()
        return results, ticks

    results, ticks = asyncio.run(service())
    check_service_results(s3, wanted, results, "user-7")
    assert ticks > 5


def test_create_palette_variations_skips_failures_and_logs_them(testdata, palettes, tmp_path, caplog):
    wanted = [palettes[0], {**palettes[2], "id": 9}, palettes[1]]
    image = (testdata / "coffee.png").read_bytes()
    first = variegate.create_palette_variations(image, wanted, "u1", out=str(tmp_path))
    # A folder where the second variation goes: its write fails, and it is spilled.
    blocked = tmp_path / first[1]["image_path"]
    blocked.unlink()
    blocked.mkdir()
    with caplog.at_level(logging.WARNING, logger="variegate"):
        results = variegate.create_palette_variations(
            image, wanted, "u1", out=str(tmp_path), spill_dir=str(tmp_path / "spill")
        )
    assert [r["name"] for r in results] == [palettes[0]["name"], palettes[1]["name"]]
    assert f"{palettes[2]['name']!r} not stored" in caplog.text
    for result in results:
        assert (tmp_path / result["image_path"]).is_file()
        assert result["image_url"] == (tmp_path / result["image_path"]).as_uri()


def test_aio_comes_with_a_plain_import():
    import subprocess
    import sys

    code = "import variegate; assert callable(variegate.aio.create_palette_variations)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_create_palette_variations_into_memory_writes_no_folder(testdata, palettes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = (testdata / "coffee.png").read_bytes()
    results = variegate.create_palette_variations(data, palettes[:2], "u1", out="memory://")
    assert [r["name"] for r in results] == [palettes[0]["name"], palettes[1]["name"]]
    assert all(r["image_path"].startswith("u1/") for r in results)
    assert list(tmp_path.iterdir()) == []


def test_create_palette_variations_takes_a_path_and_file_urls(testdata, palettes, tmp_path):
    data = (testdata / "coffee.png").read_bytes()
    results = variegate.create_palette_variations(data, palettes[:1], "u1", out=tmp_path / "out")
    assert (tmp_path / "out" / results[0]["image_path"]).is_file()
    # file:/// is the root folder: the user's folder is /u1, not a host u1.
    assert variegate._under("file:///", "u1") == "file:///u1"
    assert variegate._under("file:///data/", "u1") == "file:///data/u1"
    assert variegate._under("memory://", "u1") == "memory://u1"


def test_a_user_id_is_one_folder(testdata, palettes, tmp_path):
    for user_id in ("../etc", "a/b", "", ".hidden", "x" * 129):
        with pytest.raises(ValueError, match="user_id"):
            variegate.create_palette_variations(b"", palettes, user_id, out=str(tmp_path))

"""variegate.recolour: the CLI's bytes, NumPy in and out, typed errors, and
the GIL released while the engine works."""

import io
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

import variegate


@pytest.mark.parametrize(
    "look, options, flags",
    [
        ("shift", {}, []),
        ("soft", {"max_k": 4}, ["--max-k", "4"]),
        ("remap", {}, []),
        ("remap", {"dither": True}, ["--dither"]),
        ("remap", {"dither": "ordered", "dither_strength": 0.5}, ["--dither=ordered", "--dither-strength", "0.5"]),
        ("gradient", {}, []),
        ("shift", {"format": "jpeg", "quality": 80, "seed": 3}, ["--format", "jpeg", "--quality", "80", "--seed", "3"]),
    ],
)
def test_bytes_identical_to_the_cli(testdata, palettes, run_cli, look, options, flags):
    image = testdata / "coffee.png"
    stored = run_cli(image, "--look", look, *flags)
    variations = variegate.recolour(image, palettes, look=look, **options)
    assert [v.index for v in variations] == list(range(len(palettes)))
    for variation in variations:
        assert variation.error is None
        assert variation.data == stored[variation.index], f"{look} {variation.name}"


def test_bytes_a_path_and_an_array_give_the_same_variations(testdata, palettes):
    path = testdata / "coffee.png"
    array = np.asarray(Image.open(path).convert("RGB"))
    from_path = variegate.recolour(str(path), palettes[:3])
    from_bytes = variegate.recolour(path.read_bytes(), palettes[:3])
    from_array = variegate.recolour(array, palettes[:3])
    assert [v.data for v in from_path] == [v.data for v in from_bytes] == [v.data for v in from_array]


def test_variations_carry_their_palette(testdata, palettes):
    variations = variegate.recolour(testdata / "coffee.png", palettes, format="webp")
    for variation, palette in zip(variations, palettes):
        assert variation.name == palette["name"]
        assert variation.colors == [c.upper() for c in palette["colors"]]
        assert variation.description == palette.get("description")
        assert variation.content_type == "image/webp"
        assert (variation.width, variation.height) == (600, 400)


def test_numpy_out_is_the_decoded_file(testdata, palettes):
    variation = variegate.recolour(testdata / "rocket.jpg", palettes[:1])[0]
    pixels = variation.to_numpy()
    assert pixels.dtype == np.uint8 and pixels.shape == (427, 640, 3)
    assert np.array_equal(pixels, np.asarray(Image.open(io.BytesIO(variation.data))))


def test_an_rgba_array_keeps_its_alpha(testdata, palettes):
    # logo.png is RGBA but opaque: every alpha value, on a ramp.
    logo = np.array(Image.open(testdata / "logo.png").convert("RGBA"))
    y, x = np.mgrid[0:500, 0:500]
    logo[..., 3] = (x + y) * 255 // 998
    for look in ("shift", "remap", "gradient"):
        for variation in variegate.recolour(logo, palettes[:2], look=look):
            pixels = variation.to_numpy()
            assert pixels.shape == logo.shape, look
            assert np.array_equal(pixels[..., 3], logo[..., 3]), look
            assert not np.array_equal(pixels[..., :3], logo[..., :3]), look


def test_bad_image_bytes_raise_decode_error(testdata, palettes):
    with pytest.raises(variegate.DecodeError, match=r"^image: not a PNG, JPEG or WebP image$"):
        variegate.recolour(b"definitely not an image", palettes)
    truncated = testdata / "bad" / "truncated.png"
    with pytest.raises(ValueError, match=rf"^{truncated}: cannot decode PNG image"):
        variegate.recolour(truncated, palettes)
    cut = testdata / "bad" / "truncated.jpg"
    with pytest.raises(variegate.DecodeError, match=rf"^{cut}: cannot decode JPEG image: Premature end of JPEG file$"):
        variegate.recolour(cut, palettes)
    assert variegate.recolour(cut, palettes[:1], lenient=True)[0].error is None
    with pytest.raises(variegate.DecodeError, match=r"^upload-7\.png: file is empty$"):
        variegate.recolour(b"", palettes, name="upload-7.png")
    with pytest.raises(variegate.DecodeError, match=r"^/no/such/photo\.png: cannot read file"):
        variegate.recolour("/no/such/photo.png", palettes)
    with pytest.raises(variegate.DecodeError, match=r"\(240000 pixels\), over the limit of 100000 pixels"):
        variegate.recolour(testdata / "coffee.png", palettes, max_pixels=100_000)
    with pytest.raises(variegate.DecodeError, match=r"over the memory budget of 16 MiB$"):
        variegate.recolour(testdata / "coffee.png", palettes, max_memory="16M")
    with pytest.raises(ValueError, match=r"^option max_memory: \"12Q\" is not a size"):
        variegate.recolour(testdata / "coffee.png", palettes, max_memory="12Q")
    assert len(variegate.recolour(testdata / "coffee.png", palettes, max_memory=1 << 30)) == len(palettes)
    for empty in (np.zeros((0, 5, 3), np.uint8), np.zeros((5, 0, 4), np.uint8)):
        with pytest.raises(variegate.DecodeError, match=r"^array: "):
            variegate.recolour(empty, palettes)
    with pytest.raises(ValueError, match=r"shape \(4, 4\)"):
        variegate.recolour(np.zeros((4, 4), dtype=np.uint8), palettes)
    with pytest.raises(TypeError, match=r"not int"):
        variegate.recolour(42, palettes)


def test_a_bad_colour_raises_palette_error_naming_it(testdata, palettes):
    broken = [palettes[0], {"name": "Typo", "colors": ["#112233", "#11223G"]}]
    with pytest.raises(
        variegate.PaletteError,
        match=r'^palettes: palette 2 \("Typo"\): colour 2 "#11223G" is not a hex colour \(#RGB or #RRGGBB\)$',
    ):
        variegate.recolour(testdata / "coffee.png", broken)
    with pytest.raises(variegate.PaletteError, match=r"^palettes: palette 1: no \"name\"$"):
        variegate.recolour(testdata / "coffee.png", [{"colors": ["#000"]}])
    with pytest.raises(variegate.PaletteError, match=r"no palettes"):
        variegate.recolour(testdata / "coffee.png", [])
    assert issubclass(variegate.PaletteError, ValueError)


def test_a_palette_without_colours_is_refused_up_front(testdata, palettes):
    with pytest.raises(variegate.PaletteError, match=r'^palettes: palette 2 \("Empty"\): no colours$'):
        variegate.recolour(testdata / "coffee.png", [palettes[0], {"name": "Empty", "colors": []}])
    with pytest.raises(variegate.PaletteError, match=r"at most 256 colours, not 300"):
        many = [f"#{i:06X}" for i in range(300)]
        variegate.recolour(testdata / "coffee.png", [{"name": "Many", "colors": many}], look="remap", dither=True)


def test_options_are_checked_as_the_cli_checks_them(testdata, palettes):
    image = testdata / "coffee.png"
    with pytest.raises(TypeError, match="unexpected keyword argument 'blur'"):
        variegate.recolour(image, palettes, blur=3)
    with pytest.raises(ValueError, match=r"^max_k goes with look='shift' or 'soft'$"):
        variegate.recolour(image, palettes, look="remap", max_k=3)
    with pytest.raises(ValueError, match=r"^dither goes with look='remap'$"):
        variegate.recolour(image, palettes, dither=True)
    with pytest.raises(ValueError, match=r"^invalid option blend: must be between 0 and 1, not 2$"):
        variegate.recolour(image, palettes, blend=2.0)
    with pytest.raises(ValueError, match=r"^invalid option threads: must be at least 1$"):
        variegate.recolour(image, palettes, threads=0)
    with pytest.raises(ValueError, match=r"^look must be"):
        variegate.recolour(image, palettes, look="sepia")
    with pytest.raises(TypeError, match=r"^option seed='1': 'str' object cannot be interpreted as an integer$"):
        variegate.recolour(image, palettes, seed="1")
    with pytest.raises(ValueError, match=r"^option seed=-1: "):
        variegate.recolour(image, palettes, seed=-1)
    # Settings that would change the key and not the bytes, as the CLI's.
    with pytest.raises(ValueError, match=r"^invalid option seed: goes with the shift or soft look, not remap$"):
        variegate.recolour(image, palettes, look="remap", seed=0)
    with pytest.raises(ValueError, match=r"^invalid option format: quality goes with format jpeg, webp or avif$"):
        variegate.recolour(image, palettes, quality=80)
    with pytest.raises(ValueError, match=r"^invalid option background: goes with JPEG, which has no alpha, not WebP$"):
        variegate.recolour(image, palettes, format="webp", lossless=True, background="#000")
    assert len(variegate.recolour(image, palettes[:1], look="remap")) == 1
    # A value dither cannot be is one line naming what it takes.
    with pytest.raises(TypeError, match=r"^option dither=1: must be True, False, 'floyd-steinberg' or 'ordered'$"):
        variegate.recolour(image, palettes, look="remap", dither=1)
    # Palette errors are punctuated one way; an empty path is named so.
    with pytest.raises(variegate.PaletteError, match=r'^palettes: palette 1 \("a"\): no "colors"$'):
        variegate.recolour(image, [{"name": "a"}])
    with pytest.raises(variegate.DecodeError, match=r"^an empty path: cannot read file"):
        variegate.recolour("", palettes)
    # The documented defaults are taken as given, whatever the look.
    assert variegate.recolour(image, palettes[:1], dither=False)[0].error is None
    # Frozen, so hashable.
    first = variegate.recolour(image, palettes[:1])[0]
    assert hash(first) == hash(variegate.recolour(image, palettes[:1])[0]) and {first: 1}[first] == 1


def test_a_deprecated_option_warns_and_changes_no_byte(testdata, palettes):
    image = testdata / "coffee.png"
    with pytest.warns(DeprecationWarning, match=r"^analysis_size no longer changes the output") as warned:
        given = variegate.recolour(image, palettes[:1], analysis_size=64)
    assert warned[0].filename == __file__  # the warning points at the caller's line
    assert given[0].data == variegate.recolour(image, palettes[:1])[0].data


def test_colour_profiles_are_converted_or_ignored(testdata, palettes):
    tagged, plain = testdata / "profiles" / "p3.png", testdata / "oriented" / "upright.png"
    untagged = variegate.recolour(plain, palettes[:2])
    converted = variegate.recolour(tagged, palettes[:2])
    ignored = variegate.recolour(tagged, palettes[:2], colour_profiles="ignore")
    assert [v.to_numpy().tolist() for v in ignored] == [v.to_numpy().tolist() for v in untagged]
    assert converted[0].to_numpy().tolist() != untagged[0].to_numpy().tolist()
    assert b"sRGB" in converted[0].data and b"sRGB" not in untagged[0].data
    with pytest.raises(ValueError, match="colour_profiles must be 'convert' or 'ignore'"):
        variegate.recolour(tagged, palettes, colour_profiles="assume")


def test_same_bytes_at_any_thread_count(testdata, palettes):
    one = variegate.recolour(testdata / "rocket.jpg", palettes, threads=1)
    four = variegate.recolour(testdata / "rocket.jpg", palettes, threads=4)
    assert [v.data for v in one] == [v.data for v in four]


def test_the_gil_is_released_while_the_engine_works(testdata, palettes):
    # A Python thread counting while recolour runs gets the GIL throughout
    # only if recolour does not hold it.
    data = (testdata / "retina.jpg").read_bytes()
    ticks, done = [0], threading.Event()

    def count():
        while not done.is_set():
            ticks[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        started = time.perf_counter()
        variegate.recolour(data, palettes, threads=1)
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        counter.join()
    # Millions of ticks a second when it runs freely; a held GIL would
    # leave it one switch interval (5 ms) at the start and end.
    assert ticks[0] > 100_000 * elapsed, (ticks[0], elapsed)


def test_two_threads_recolour_at_once(testdata, palettes):
    """Two Python threads' calls overlap: each call runs with the GIL
    released, so the second starts before the first ends. (Whether they
    also run twice as fast is the host's business, not a test's: timings
    moved with the load of the machine.)"""
    data = (testdata / "retina.jpg").read_bytes()
    spans = []

    def one():
        started = time.perf_counter()
        variegate.recolour(data, palettes, threads=1)
        spans.append((started, time.perf_counter()))

    one()  # warm: page cache, allocator
    spans.clear()
    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (first_start, first_end), (second_start, second_end) = sorted(spans)
    print(f"two recolours at once: {first_end - first_start:.3f} s and {second_end - second_start:.3f} s")
    assert second_start < first_end, spans


def test_every_array_layout_gives_the_same_bytes(testdata, palettes):
    rgb = np.asarray(Image.open(testdata / "coffee.png").convert("RGB"))
    want = [v.data for v in variegate.recolour(rgb, palettes[:2])]
    layouts = {
        "fortran": np.asfortranarray(rgb),
        "transposed twice": np.ascontiguousarray(rgb.transpose(1, 0, 2)).transpose(1, 0, 2),
        "flipped twice": np.ascontiguousarray(rgb[::-1, ::-1])[::-1, ::-1],
        "channels reversed twice": np.ascontiguousarray(rgb[..., ::-1])[..., ::-1],
        "a slice of a wider one": np.pad(rgb, ((3, 5), (7, 9), (0, 1)))[3:-5, 7:-9, :3],
        "read-only": np.frombuffer(rgb.tobytes(), np.uint8).reshape(rgb.shape),
    }
    for layout, array in layouts.items():
        assert [v.data for v in variegate.recolour(array, palettes[:2])] == want, layout


def test_arrays_are_checked_from_their_shape_then_copied_once(tmp_path):
    """Over the pixel or memory budget: refused before anything is copied
    (a broadcast view of a few bytes too); accepted: one copy, which the
    budget counts as the image. Peaks measured in a process of their own."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "arrays.py"
    script.write_text(textwrap.dedent("""
        import resource, sys, numpy as np, variegate
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        palettes = [{"name": "a", "colors": ["#112233", "#AABBCC"]}]
        kind, options = sys.argv[1], {}
        if kind == "over max_pixels":
            array = np.ones((12000, 12000, 3), np.uint8)  # 412 MiB, 144 MP
        elif kind == "broadcast":
            array = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (12000, 12000, 3))
        elif kind == "over max_memory":
            array, options = np.ones((4000, 3000, 3), np.uint8), {"max_memory": "64M"}
        else:  # accepted: cancelled before its first variation, to weigh the copy alone
            array = np.zeros((3000, 4000, 3), np.uint8)[:, ::-1].transpose(1, 0, 2)
            array[::7] = 200
            canceller = variegate.Canceller()
            canceller.cancel()
            options = {"canceller": canceller, "look": "remap"}
        before = peak()
        try:
            variegate.recolour(array, palettes, **options)
            print("made", peak() - before)
        except variegate.DecodeError as error:
            print("refused", peak() - before, error)
    """))

    def run(kind):
        out = subprocess.run([sys.executable, str(script), kind], capture_output=True, text=True, check=True).stdout
        verdict, grown, *error = out.split(" ", 2)
        return verdict, int(grown), " ".join(error).strip()

    MiB = 1 << 20
    verdict, grown, error = run("over max_pixels")
    assert verdict == "refused" and grown < 16 * MiB, (grown, error)
    assert error == "array: image is 12000x12000 (144.0 megapixels), over the limit of 100.0 megapixels"
    verdict, grown, error = run("broadcast")
    assert verdict == "refused" and grown < 16 * MiB and "144.0 megapixels" in error, (grown, error)
    verdict, grown, error = run("over max_memory")
    assert verdict == "refused" and grown < 16 * MiB, (grown, error)
    assert error.startswith("array: recolouring 3000x4000 pixels needs at least") and "budget of 64 MiB" in error
    verdict, grown, error = run("accepted")
    assert verdict == "made" and grown < 1.25 * 36_000_000, grown  # one copy of 36 MB, not two or three


def test_avif_variations_decode_to_numpy(testdata, palettes):
    rgb = np.asarray(Image.open(testdata / "coffee.png").convert("RGB"))
    y, x = np.mgrid[0:400, 0:600]
    rgba = np.dstack([rgb, (x + y) * 255 // 998]).astype(np.uint8)
    for image in (rgb, rgba):
        png, avif = (variegate.recolour(image, palettes[:1], format=f, **o)[0]
                     for f, o in (("png", {}), ("avif", {"speed": 10})))
        assert avif.content_type == "image/avif"
        pixels, want = avif.to_numpy(), png.to_numpy()
        assert pixels.dtype == np.uint8 and pixels.shape == want.shape == image.shape
        # Lossy (quality 90), close to the PNG: 5 levels on average here; a
        # wrong decode (channels, range, alpha) is tens off.
        assert np.abs(pixels.astype(int) - want.astype(int)).mean() < 8


def test_a_panic_in_the_work_is_raised_as_a_bug_not_a_panic():
    with pytest.raises(variegate.InternalError, match=r"^a bug in variegate: its work panicked: as the test asked"):
        variegate._native.panic_in_work()
    assert issubclass(variegate.InternalError, Exception)  # PyO3's PanicException is not


def test_every_option_the_cli_takes_is_documented_in_python_or_is_the_clis_own(cli):
    """The keywords are the CLI's flags, named alike (`--max-k`, `max_k`):
    each of `variegate run`'s is in `recolour`'s or `run`'s docstring,
    unless only a command line has it."""
    import re
    import subprocess

    help_text = subprocess.run([cli, "run", "--help"], capture_output=True, text=True, check=True).stdout
    flags = set(re.findall(r"^\s+(?:-\w, )?--([a-z-]+)", help_text, re.M))
    cli_only = {"contact-sheet", "gallery", "grace", "help", "json", "palette", "palettes", "quiet", "report"}
    docs = variegate.recolour.__doc__ + variegate.run.__doc__
    missing = [flag for flag in sorted(flags - cli_only) if not re.search(rf"``{flag.replace('-', '_')}(``|=)", docs)]
    assert not missing, f"not in the docstrings: {missing}"
    assert "max-k" in flags and "url-ttl" in flags  # the help was read
    # The looks' options are listed from the engine's table, with its defaults.
    assert "{look_options}" not in docs
    assert "- ``max_k`` (5): " in docs and "- ``dither_strength`` (1.0): With ``dither``: " in docs

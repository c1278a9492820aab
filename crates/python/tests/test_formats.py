"""Lossy WebP and AVIF decoded by an independent decoder (Pillow's libwebp
and libavif) against the PNG variation of the same recipe: colours within
a mean CIEDE2000 of 2, files a fifth (WebP) and an eighth (AVIF) of the
PNG's, alpha kept, and the content types and keys the store sees."""

import io

import numpy as np
import pytest
from PIL import Image, features

import variegate
from colour_difference import ciede2000, srgb_to_lab


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("fmt,share", [("webp", 5), ("avif", 8)])
def test_web_formats_keep_the_colours_in_a_fraction_of_the_bytes(testdata, palettes, fmt, share):
    if not features.check(fmt):
        pytest.fail(f"this Pillow cannot decode {fmt}")
    image = testdata / "retina.jpg"
    pngs = variegate.recolour(image, palettes[:2])
    lossy = variegate.recolour(image, palettes[:2], format=fmt)
    for png, variation in zip(pngs, lossy):
        assert variation.error is None and variation.content_type == f"image/{fmt}"
        assert Image.open(io.BytesIO(variation.data)).format == fmt.upper()
        distance = ciede2000(srgb_to_lab(pixels(png.data)), srgb_to_lab(pixels(variation.data))).mean()
        assert distance <= 2.0, (variation.name, distance)
        assert len(variation.data) * share <= len(png.data), (len(variation.data), len(png.data))


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_alpha_is_kept(testdata, palettes, fmt):
    rgba = np.asarray(Image.open(testdata / "coffee.png").convert("RGBA")).copy()
    rgba[..., 3] = np.linspace(255, 0, rgba.shape[1], dtype=np.uint8)[None, :]
    variation = variegate.recolour(rgba, palettes[:1], format=fmt)[0]
    alpha = np.asarray(Image.open(io.BytesIO(variation.data)).convert("RGBA"))[..., 3].astype(int)
    assert np.abs(alpha - rgba[..., 3]).mean() < 2, np.abs(alpha - rgba[..., 3]).mean()


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_a_cutout_stays_opaque_inside_and_clear_outside(testdata, palettes, fmt):
    """A cut-out (alpha 0 outside an ellipse, 255 inside, a 6-pixel ramp)
    at the default settings: no grey halo, no see-through
    body (AVIF's alpha at the colour's quality 70 gave 241 and 16)."""
    source = np.asarray(Image.open(testdata / "coffee-cutout.png"))[..., 3]
    variation = variegate.recolour(testdata / "coffee-cutout.png", palettes[:1], format=fmt)[0]
    alpha = np.asarray(Image.open(io.BytesIO(variation.data)).convert("RGBA"))[..., 3]
    assert alpha[source == 255].min() >= 250 and alpha[source == 0].max() <= 5, (
        alpha[source == 255].min(), alpha[source == 0].max())
    ramp = (source > 0) & (source < 255)
    assert np.abs(alpha[ramp].astype(int) - source[ramp]).mean() < 2


def test_run_stores_web_formats_under_their_own_keys(testdata, palettes, tmp_path):
    keys = {}
    for options in [{}, {"format": "webp"}, {"format": "webp", "lossless": True}, {"format": "avif", "speed": 10}]:
        report = variegate.run(testdata / "coffee.png", palettes[:1], out=str(tmp_path), **options)
        outcome = report["variations"][0]
        keys[outcome["key"]] = outcome["content_type"]
    assert sorted(keys.values()) == ["image/avif", "image/png", "image/webp", "image/webp"], keys
    with pytest.raises(ValueError, match="speed goes with format avif"):
        variegate.recolour(testdata / "coffee.png", palettes[:1], format="webp", speed=3)

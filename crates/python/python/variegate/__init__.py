"""Recolour an image into many palette variations, in parallel, and store them.

The engine is variegate's Rust engine, called in-process: each call decodes
the image once, analyses it once, recolours every palette in a pool of
threads and encodes each variation, all with the GIL released, so Python
threads can recolour at once. The bytes are the ones the ``variegate``
command line writes for the same recipe.

    import variegate, json
    palettes = json.load(open("palettes.json"))
    for variation in variegate.recolour("coffee.png", palettes):
        open(f"{variation.index:02}.png", "wb").write(variation.data)
    report = variegate.run("coffee.png", palettes, out="s3://bucket/variations")

``variegate.aio`` has the same calls for asyncio, run off the event loop.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from ._native import Canceller, DecodeError, InternalError, PaletteError, StoreError

if TYPE_CHECKING:
    import numpy

__all__ = [
    "Canceller",
    "DecodeError",
    "InternalError",
    "PaletteError",
    "StoreError",
    "Variation",
    "create_palette_variations",
    "recolour",
    "run",
]

Image = Union[bytes, str, "os.PathLike[str]", "numpy.ndarray"]
"""An encoded PNG, JPEG or WebP file's bytes, a path to one, or a NumPy
``uint8`` array of shape (H, W, 3) (RGB) or (H, W, 4) (RGBA)."""

Palette = Mapping[str, Any]
"""A palette as in a palettes file: ``{"name": str, "colors": ["#RRGGBB", ...],
"description": str}`` (description optional; other keys are ignored)."""

_log = logging.getLogger("variegate")


@dataclass(frozen=True)
class Variation:
    """One palette's variation of the image."""

    index: int
    """Position of its palette in the list, from 0."""
    name: str
    """The palette's name."""
    colors: List[str]
    """The palette's colours, as ``#RRGGBB``."""
    description: Optional[str]
    """The palette's description, if it has one."""
    data: Optional[bytes] = field(repr=False)
    """The encoded image; None if it failed."""
    content_type: Optional[str]
    """``image/png``, ``image/jpeg``, ``image/webp`` or ``image/avif``; None if it failed."""
    width: Optional[int]
    """Width in pixels; None if it failed."""
    height: Optional[int]
    """Height in pixels; None if it failed."""
    error: Optional[str]
    """Why it failed (one line), or None when it succeeded."""

    def __hash__(self) -> int:
        # Frozen, so hashable, though its colours are a list.
        return hash((self.index, self.name, tuple(self.colors), self.description, self.data))

    def to_numpy(self) -> "numpy.ndarray":
        """The decoded pixels: ``uint8``, shape (H, W, 3), or (H, W, 4) when
        the image has alpha. Raises ``ValueError`` if the variation failed.

        AVIF is decoded by Pillow (11.3 or later reads AVIF): the engine has
        no AV1 decoder, as none that is kept up builds with a Rust toolchain
        and a C compiler alone. Without it, ``ValueError`` says so."""
        import numpy

        if self.data is None:
            raise ValueError(f"variation {self.index} ({self.name!r}) failed: {self.error}")
        if self.content_type == "image/avif":
            return numpy.asarray(_decode_avif(self.data, f"variation {self.index} ({self.name!r})"))
        pixels, width, height, channels = _native.decode(self.data)
        return numpy.frombuffer(pixels, dtype=numpy.uint8).reshape(height, width, channels)


def _decode_avif(data: bytes, what: str) -> Any:
    """An AVIF file's pixels as a Pillow image, RGB or RGBA."""
    try:
        from PIL import Image, features
    except ImportError:
        features = None
    if features is None or not features.check("avif"):
        raise ValueError(
            f"{what}: AVIF is decoded by Pillow 11.3 or later, which is not installed "
            "(pip install 'pillow>=11.3'); or ask for format='png' or 'webp'"
        )
    image = Image.open(io.BytesIO(data))
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def _image_arg(image: Image) -> Any:
    """What the native half takes: bytes and paths as they are, arrays as
    NumPy arrays, which it checks from their shape and then copies once,
    whatever their layout."""
    if isinstance(image, (bytes, str, os.PathLike)):
        return image
    if isinstance(image, (bytearray, memoryview)):
        return bytes(image)
    shape = getattr(image, "shape", None)
    dtype = getattr(image, "dtype", None)
    if shape is None or dtype is None:
        return image  # the native half names the type it cannot take
    if str(dtype) != "uint8" or len(shape) != 3 or shape[2] not in (3, 4):
        raise ValueError(
            f"image array must be uint8 of shape (H, W, 3) or (H, W, 4), not {dtype} of shape {tuple(shape)}"
        )
    import numpy

    # NumPy's own arrays as they are; other array types as NumPy sees them.
    return image if isinstance(image, numpy.ndarray) else numpy.asarray(image)


def recolour(
    image: Image,
    palettes: Sequence[Palette],
    *,
    look: str = "shift",
    seed: Optional[int] = None,
    format: str = "png",
    threads: Optional[int] = None,
    **look_options: Any,
) -> List[Variation]:
    """Recolours ``image`` with every palette; one ``Variation`` a palette, in
    palette order. A palette that fails has ``error`` set; the others go on.

    ``look``: ``"shift"`` (the default: each colour cluster moves towards its
    palette colour in CIELAB), ``"soft"`` (the same, with cluster boundaries
    faded where the image is smooth), ``"remap"`` (each pixel becomes its
    nearest palette colour) or ``"gradient"`` (lightness picks from the
    palette as a ramp). ``seed`` (0) seeds the clustering of the shift and soft looks:
    the same seed gives the same bytes (with the other looks, which do not
    cluster, it is a ``ValueError``).
    ``format``: ``"png"``, ``"jpeg"``, ``"webp"`` (lossy; ``lossless=True``
    for lossless) or ``"avif"`` (``speed``, 1-10, default 9). ``threads``: worker
    threads, the most variations made at once (default one per core).

    ``look_options``, the looks' own, named and defaulting as the command
    line's flags (``dither`` also takes True, for "floyd-steinberg"):

    {look_options}

    The other options: ``quality`` (90 for JPEG and lossy WebP, 70 for AVIF) and
    ``background`` ("#FFFFFF": what shows through transparent pixels, for JPEG only); ``max_side`` (none: downscale the
    image first so its longest side is at most this); ``max_pixels``
    (refuse larger images); ``max_memory`` (bytes, or a size such as "2G":
    refuse an image whose recolouring would need more, and make fewer
    variations at once when that fits; default half the machine's memory);
    ``lenient`` (False: decode a truncated or
    damaged JPEG as far as it goes instead of raising);
    ``colour_profiles`` ("convert": an embedded ICC profile's colours to
    sRGB; "ignore": the stored values taken as sRGB, as OpenCV reads them);
    ``name`` (what an image given as bytes or an
    array is called in errors; "image" or "array");
    ``canceller`` (a ``Canceller``, to stop the call from another thread).

    An array is checked against ``max_pixels`` and ``max_memory`` from its
    shape, before anything is copied, then copied once (any layout: a
    slice, a transposed or broadcast view); that copy is the image the
    budget counts.

    Cancelled (Ctrl-C in the main thread, or its ``canceller``), the call
    stops within about a second: no variation starts, those being made
    finish, and ``KeyboardInterrupt`` is raised (with a canceller, the
    variations not made have ``error`` "cancelled ...").

    Raises ``DecodeError`` (the image), ``PaletteError`` (a palette),
    ``ValueError`` (an option out of its range), ``TypeError`` (an unknown
    option) or ``InternalError`` (a bug in variegate, never input's fault).
    """
    records = _native.recolour(
        _image_arg(image), palettes, look=look, seed=seed, format=format, threads=threads, **look_options
    )
    return [Variation(*record) for record in records]


def _look_options_doc() -> str:
    """The looks' options as the engine's table gives them (the table the
    command line's flags are made from), in Python's words: a line each."""
    lines = []
    for name, default, text in _native.look_options():
        bracket = re.search(r" ?\[default: ([^\]]*)\]", text)
        if bracket:
            default, text = default or bracket.group(1), text.replace(bracket.group(0), "")
        text = re.sub(r"--look (\w+)", r'look="\1"', text)
        text = re.sub(r"--([a-z-]+)", lambda flag: f"``{flag.group(1).replace('-', '_')}``", text)
        lines.append(f"- ``{name}`` ({default}): {text}")
    return "\n    ".join(lines)


if recolour.__doc__:  # None under python -OO
    recolour.__doc__ = recolour.__doc__.replace("{look_options}", _look_options_doc())


def run(image: Image, palettes: Sequence[Palette], *, out: str = "./variations", **options: Any) -> Dict[str, Any]:
    """Recolours ``image`` with every palette and stores each variation and a
    ``manifest.json`` under ``out``, exactly as ``variegate run`` does;
    returns the report (the manifest's document).

    ``out``: a folder, ``file:///dir``, ``memory://``, ``s3://bucket/prefix``,
    ``gs://bucket/prefix`` or ``az://container/prefix``; credentials come
    from the usual environment variables, or ``storage_options`` (a dict of
    ``object_store`` configuration keys, e.g. ``{"aws_endpoint":
    "http://127.0.0.1:9000"}``).

    ``options``: those of ``recolour`` and ``retries`` (5), ``deadline``
    (120 s), ``uploads`` (stored at once: 8 on a cloud store, 2 in a local
    folder), ``url_ttl`` (3600 s, how long
    presigned links in the report last), ``spill_dir``
    ("./variegate-spill", or variegate-spill in the temporary folder where
    the working folder is read-only: where variations the store refuses are
    saved),
    ``thumbnail`` (also store a thumbnail of this longest side), ``sizes``
    (a list of longest sides, e.g. ``[480, 960, 1920]``: each variation
    stored at each instead of at full size, never upscaled; each outcome
    then has ``sizes``, its files, and ``srcset``).

    Raises as ``recolour`` does, and ``StoreError`` when the store cannot be
    opened or does not answer; a variation that cannot be stored is recorded
    in the report (``status`` "partial" or "failed"), not raised. When the
    manifest itself could not be stored, the report has ``manifest_error``.

    Cancelled as ``recolour`` is, the variations made so far are stored and
    the manifest says so (``status`` "interrupted", ``interrupted`` the
    reason, ``stored`` + ``cancelled`` every palette); with a canceller, the
    report is returned.
    """
    import json

    manifest, manifest_error = _native.run(_image_arg(image), palettes, out=out, **options)
    report = json.loads(manifest)
    if manifest_error is not None:
        report["manifest_error"] = manifest_error
    return report


# A user id becomes one folder name in the store.
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,127}")


def create_palette_variations(
    base_image_data: bytes,
    palettes: Sequence[Palette],
    user_id: str,
    blend_strength: float = 0.75,
    *,
    out: "str | os.PathLike[str]",
    **options: Any,
) -> List[Dict[str, Any]]:
    """A drop-in for the original service's
    ``ImageService.create_palette_variations``: recolours the image with the
    shift look (``blend_strength`` is its ``blend``) and stores the
    variations under a folder ``user_id`` of ``out``.

    Returns, in palette order, each stored palette's own dict (every key
    kept) plus ``image_path`` (the object's key under ``out``:
    ``{user_id}/{image}-{hash}/shift-{recipe}/NN-name.png``) and
    ``image_url`` (a presigned link for cloud stores, ``file://`` for a
    folder). Palettes that could not be made or stored are left out, as the
    original did, each logged as a warning on the ``variegate`` logger and
    recorded in the run's manifest. ``options`` are ``run``'s.

    Raises ``ValueError`` for a ``user_id`` that is not one folder name
    (letters, digits and ``._@+=-``, at most 128), and as ``run`` does.
    """
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise ValueError(f"user_id {user_id!r}: must be letters, digits and ._@+=- (at most 128), not starting with a symbol")
    folder = _under(out, user_id)
    report = run(base_image_data, palettes, out=folder, blend=blend_strength, **options)
    if "manifest_error" in report:
        _log.warning("manifest of %s not stored: %s", report["folder"], report["manifest_error"])
    results = []
    for palette, outcome in zip(palettes, report["variations"]):
        if outcome["status"] != "stored":
            _log.warning("palette %r not stored: %s", outcome["name"], outcome.get("error"))
            continue
        results.append({**palette, "image_path": f"{user_id}/{outcome['key']}", "image_url": outcome["url"]})
    return results


def _under(out: "str | os.PathLike[str]", folder: str) -> str:
    """``folder`` under ``out``: a folder path, or a store URL (``memory://``
    and ``s3://bucket`` alike, the scheme's ``//`` kept)."""
    out = os.fspath(out)
    scheme, separator, rest = out.partition("://")
    if not separator:
        return os.path.join(out, folder)
    rest = rest.rstrip("/")
    # file:/// is the root folder: its path, not a host, takes the folder.
    return f"{scheme}://{rest}/{folder}" if rest or scheme == "file" else f"{scheme}://{folder}"


# At interpreter exit, calls still running in daemon threads are cancelled
# (their manifests say "interpreter shutdown"), exit waits up to 2 s for
# them to record it, and they never take the GIL back, which would abort the
# process on Python up to 3.13: the process ends with the main thread's
# status. Non-daemon threads are joined before this runs, as always.
atexit.register(_native.at_exit)

# ``variegate.aio`` after a plain ``import variegate``, as docs/python.md writes
# it; last, since it uses what is above.
from . import aio  # noqa: E402,F401

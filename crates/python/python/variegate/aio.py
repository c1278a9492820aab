"""``variegate``'s calls for asyncio: each runs in a worker thread with the
GIL released while the engine works, so the event loop goes on serving
while images are recoloured and stored.

    variations = await variegate.aio.create_palette_variations(data, palettes, user_id, out="s3://bucket/v")

Cancelling the task (``task.cancel()``, a timeout of ``asyncio.wait_for``
or ``asyncio.timeout``, Ctrl-C under ``asyncio.run``) cancels the job: no
variation starts, those made are stored and the manifest says so
(``interrupted``: the cancellation's message, or "asyncio task
cancelled"). The
``CancelledError`` is raised once the job has ended, within about a second,
so that the store and its record are true when the caller sees it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import Any, Callable, Dict, List, Sequence, TypeVar

import variegate
from variegate import Image, Palette, Variation

T = TypeVar("T")


async def recolour(image: Image, palettes: Sequence[Palette], **options: Any) -> List[Variation]:
    """``variegate.recolour``, off the event loop."""
    return await _off_the_loop(variegate.recolour, image, palettes, **options)


async def run(image: Image, palettes: Sequence[Palette], **options: Any) -> Dict[str, Any]:
    """``variegate.run``, off the event loop."""
    return await _off_the_loop(variegate.run, image, palettes, **options)


async def create_palette_variations(
    base_image_data: bytes,
    palettes: Sequence[Palette],
    user_id: str,
    blend_strength: float = 0.75,
    **options: Any,
) -> List[Dict[str, Any]]:
    """``variegate.create_palette_variations``, off the event loop: the
    original service's ``async`` method, with the same arguments."""
    call = variegate.create_palette_variations
    return await _off_the_loop(call, base_image_data, palettes, user_id, blend_strength, **options)


async def _off_the_loop(call: Callable[..., T], *args: Any, **options: Any) -> T:
    """``call`` in the loop's default executor, as ``asyncio.to_thread``
    runs it, with a ``Canceller`` that cancelling this coroutine uses."""
    # The caller's canceller, or one of the call's own (None is none given).
    canceller = options["canceller"] = options.get("canceller") or variegate.Canceller()
    work = functools.partial(contextvars.copy_context().run, call, *args, **options)
    done = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        # Shielded: a cancellation reaches this coroutine, not the thread's
        # future, which is awaited below until the job has ended.
        return await asyncio.shield(done)
    except asyncio.CancelledError as cancelled:
        canceller.cancel(str(cancelled.args[0]) if cancelled.args else "asyncio task cancelled")
        try:
            await asyncio.shield(done)
        except Exception:
            pass  # what the cancelled call raised matters less than that it was cancelled
        raise

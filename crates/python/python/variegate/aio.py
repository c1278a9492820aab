"""``variegate``'s calls for asyncio: each runs in a worker thread
(``asyncio.to_thread``) with the GIL released while the engine works, so the
event loop goes on serving while images are recoloured and stored.

    variations = await variegate.aio.create_palette_variations(data, palettes, user_id, out="s3://bucket/v")
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Dict, List, Sequence

import variegate
from variegate import Image, Palette, Variation


async def recolour(image: Image, palettes: Sequence[Palette], **options: Any) -> List[Variation]:
    """``variegate.recolour``, off the event loop."""
    return await asyncio.to_thread(functools.partial(variegate.recolour, image, palettes, **options))


async def run(image: Image, palettes: Sequence[Palette], **options: Any) -> Dict[str, Any]:
    """``variegate.run``, off the event loop."""
    return await asyncio.to_thread(functools.partial(variegate.run, image, palettes, **options))


async def create_palette_variations(
    base_image_data: bytes,
    palettes: Sequence[Palette],
    user_id: str,
    blend_strength: float = 0.75,
    **options: Any,
) -> List[Dict[str, Any]]:
    """``variegate.create_palette_variations``, off the event loop: the
    original service's ``async`` method, with the same arguments."""
    call = functools.partial(
        variegate.create_palette_variations, base_image_data, palettes, user_id, blend_strength, **options
    )
    return await asyncio.to_thread(call)

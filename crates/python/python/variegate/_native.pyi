# The native half of variegate (Rust, PyO3). Called through the functions of
# variegate/__init__.py, which document them; arrays arrive here as NumPy
# arrays, read through their __array_interface__.
from typing import Any, List, Optional, Tuple, Union
import os

class DecodeError(ValueError):
    """The image cannot be read or decoded, or is over the pixel budget. The message names it."""

class PaletteError(ValueError):
    """A palette is malformed: the message names the palette, and the colour that is not #RGB or #RRGGBB."""

class StoreError(OSError):
    """The store cannot be opened, does not answer, or cannot be written."""

class InternalError(RuntimeError):
    """A bug in variegate: its work stopped where it never should (a panic). The message says where; please report it."""

class Canceller:
    """Cancels a call from another thread, or from asyncio when its task is cancelled: the `canceller=` option."""
    def __init__(self) -> None: ...
    def cancel(self, reason: str = "Canceller.cancel") -> bool: ...
    @property
    def cancelled(self) -> bool: ...

_ImageArg = Union[bytes, str, os.PathLike[str], Any]
_VariationRecord = Tuple[
    int, str, List[str], Optional[str], Optional[bytes], Optional[str], Optional[int], Optional[int], Optional[str]
]

def recolour(image: _ImageArg, palettes: Any, **options: Any) -> List[_VariationRecord]: ...
def run(image: _ImageArg, palettes: Any, **options: Any) -> Tuple[str, Optional[str]]: ...
def decode(data: bytes) -> Tuple[bytes, int, int, int]: ...
def at_exit() -> None: ...
def panic_in_work() -> None: ...

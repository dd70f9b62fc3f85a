"""File names that are not valid UTF-8, written into JSON, CSV and HTML without loss.

On Linux a file name is bytes; Python hands a name that is not valid UTF-8 over as a
``str`` with each undecodable byte as a lone surrogate (``surrogateescape``: byte
0xFF becomes U+DCFF).  Such a string cannot be encoded as UTF-8, so every text output
of the package passes names through :func:`path_text`:

* a name that is valid UTF-8 (nearly all) is written **unchanged**;
* in a name that is not, each byte that is not part of a valid UTF-8 sequence is
  written ``\\xNN`` (two lower-case hex digits) and a backslash is written ``\\\\``;
  everything else is the name's own text.

The rule is lossless: :func:`text_path` turns such text back into the original name
(``os.fsencode`` of it gives the original bytes).  :func:`text_safe` applies
:func:`path_text` to every string (values and keys) of a JSON-like structure.

Pure Python; no napari, Qt, torch or MONAI import.
"""

from __future__ import annotations

import os
import re

__all__ = ["path_text", "text_path", "text_safe", "is_escaped"]

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def is_escaped(name: str) -> bool:
    """True when ``name`` is not valid UTF-8 (holds surrogateescape characters)."""
    if name.isascii():
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def path_text(name) -> str:
    """The text written for a file name (see the module docstring); ``name`` may be a Path."""
    name = os.fspath(name) if not isinstance(name, str) else name
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if not is_escaped(name):
        return name
    raw = name.encode("utf-8", "surrogateescape").replace(b"\\", b"\\\\")
    return raw.decode("utf-8", "backslashreplace")


def text_path(text: str) -> str:
    """Inverse of :func:`path_text` for text that holds ``\\xNN`` escapes (else unchanged)."""
    if "\\x" not in text:
        return text

    def one(m: re.Match) -> str:
        tok = m.group(1)
        return "\\" if tok == "\\" else chr(0xDC00 + int(tok[1:], 16))

    # only bytes >= 0x80 are ever escaped, and they map back to U+DC80..U+DCFF
    return _ESCAPE.sub(one, text)


def text_safe(value):
    """``value`` with :func:`path_text` applied to every string and dict key (recursively)."""
    if isinstance(value, str):
        return path_text(value)
    if isinstance(value, dict):
        return {(path_text(k) if isinstance(k, str) else k): text_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [text_safe(v) for v in value]
    return value

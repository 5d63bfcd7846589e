"""A file's text, as every input file is read: at most MAX_FILE_BYTES (4 MiB) of UTF-8 (a
config of 3000 pools is 1.5 MiB), its byte order mark dropped, a byte that is not UTF-8 named
by its place (and a compressed file said to be one). Parsed by controller.core.input_files."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from controller.core.config_errors import ConfigError

MAX_FILE_BYTES = 4 << 20
BOM = "\ufeff"
"""The byte order mark an editor on Windows may start a UTF-8 file with."""


def read_text(path: Path | str, what: str = "text", *, bom: bool = False) -> str:
    """The file as UTF-8, if it is at most MAX_FILE_BYTES. `bom`: a byte order mark it starts
    with is kept, for a caller that writes the file again as it was written."""
    source = str(path)
    try:
        with Path(path).open("rb") as file:
            return text_of(file, source, what, bom=bom)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None


def text_of(file: BinaryIO, source: str, what: str = "text", *, bom: bool = False) -> str:
    """What read_text reads, from a file open already (standard input, say)."""
    data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            source, "", f"expected {what} of at most {MAX_FILE_BYTES >> 20} MiB, got more"
        )
    text = decode(data, source)
    return BOM + text if bom and data.startswith(BOM.encode()) else text


def decode(data: bytes, source: str) -> str:
    """UTF-8 text, without the byte order mark an editor on Windows may start it with: YAML
    skips one, and JSON, which refuses one, is read the same way (a trace is read with
    utf-8-sig). Removed after decoding, so that a bad byte's place counts from the file's
    start."""
    try:
        return data.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as exc:
        said = f"expected UTF-8 text, got byte 0x{data[exc.start]:02x}"
        packed = next((kind for magic, kind in _COMPRESSED if data.startswith(magic)), None)
        if packed is not None:  # the public traces come compressed, and a config may be saved so
            said += f" ({packed} data: decompress it first)"
        raise ConfigError(source, f"byte {exc.start}", said) from None


_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"PK\x03\x04", "zip"),
)
"""How each kind of compressed file starts."""

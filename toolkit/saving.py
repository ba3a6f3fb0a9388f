"""Loading saved models safely.

:func:`load_model` registers every custom object of the toolkit, then calls
``keras.saving.load_model`` with ``safe_mode=True``: a ``.keras`` file holding a ``Lambda``
layer (arbitrary code) is refused unless the caller passes ``allow_unsafe=True``. The
toolkit never unpickles a user file.

Before Keras (or even its import) sees the file, :func:`check_keras_archive` opens it as a
zip and refuses, each with one line: a file that is not a zip; a member whose declared
uncompressed size is over its bound (``config.json`` and ``metadata.json``:
:data:`MAX_JSON_BYTES`; the weights and any other member: :data:`MAX_MEMBER_BYTES`; all of
them together: :data:`MAX_TOTAL_BYTES`) or that expands more than :data:`MAX_RATIO` times
(Keras stores its members uncompressed); and a ``config.json`` that is not a JSON object
naming a ``class_name``. Python's zipfile never inflates a member past its declared size,
so these bounds hold whatever the compressed stream holds.
"""

import json
import os
import zipfile
import zlib

from toolkit.errors import ToolkitError

MiB = 1 << 20
#: Bound on ``config.json`` and ``metadata.json`` (the toolkit's largest config is ~50 KB).
MAX_JSON_BYTES = 64 * MiB
#: Bound on the weights and any other member (VGG-16, the zoo's largest, weighs 59 MB).
MAX_MEMBER_BYTES = 2048 * MiB
#: Bound on all members together (Keras may extract them all to a temporary folder).
MAX_TOTAL_BYTES = 2 * MAX_MEMBER_BYTES
#: The most a member over 1 MiB may expand (DEFLATE tops out near 1032x; Keras stores, 1x).
MAX_RATIO = 100

_JSON_MEMBERS = ("config.json", "metadata.json")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def register_custom_objects():
    """Import the modules whose import registers the toolkit's Keras objects."""
    import toolkit.layers  # noqa: F401
    import toolkit.regularizers  # noqa: F401


def _size(n):
    return f"{n / MiB:,.1f} MiB" if n < 1 << 30 else f"{n / (1 << 30):,.1f} GiB"


def _not_a_zip(path):
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == _HDF5_MAGIC:
        what = "an HDF5 file (a legacy .h5 model or a weights file renamed .keras?)"
    elif not head:
        what = "an empty file"
    else:
        what = f"not a zip archive (it starts with {head[:4]!r})"
    return ToolkitError(
        f"{path}: not a readable .keras file: {what}; a .keras file is a zip "
        "holding config.json and model.weights.h5; was it written completely by model.save?"
    )


def check_keras_archive(path):
    """Refuse a ``.keras`` file that is not a sane Keras zip; returns its parsed config.

    Reads nothing but the zip's directory and ``config.json`` (at most
    :data:`MAX_JSON_BYTES`), so a decompression bomb costs no memory.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = 0
            for info in infos:
                limit = MAX_JSON_BYTES if info.filename in _JSON_MEMBERS else MAX_MEMBER_BYTES
                if info.file_size > limit:
                    raise ToolkitError(
                        f"{path}: member {info.filename} declares {_size(info.file_size)} "
                        f"uncompressed, over the {_size(limit)} limit for it; refusing a "
                        "likely decompression bomb"
                    )
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > MiB and ratio > MAX_RATIO:
                    raise ToolkitError(
                        f"{path}: member {info.filename} expands {ratio:,.0f}x "
                        f"({_size(info.compress_size)} to {_size(info.file_size)}), over the "
                        f"{MAX_RATIO}x limit; refusing a likely decompression bomb"
                    )
                total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise ToolkitError(
                    f"{path}: members declare {_size(total)} uncompressed in all, over the "
                    f"{_size(MAX_TOTAL_BYTES)} limit; refusing a likely decompression bomb"
                )
            if "config.json" not in zf.namelist():
                raise ToolkitError(
                    f"{path}: not a readable .keras file: no config.json member; was it written by model.save?"
                )
            raw = zf.read("config.json")
    except zipfile.BadZipFile as exc:
        if zipfile.is_zipfile(path):  # a zip whose member is damaged
            raise ToolkitError(f"{path}: not a readable .keras file ({exc}); was it written completely?") from None
        raise _not_a_zip(path) from None
    except (OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise ToolkitError(f"{path}: not a readable .keras file ({exc}); was it written completely?") from None
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ToolkitError(
            f"{path}: config.json is not valid JSON ({str(exc).splitlines()[0][:200]}); "
            "the file is damaged or not a Keras model"
        ) from None
    if not isinstance(config, dict):
        raise ToolkitError(
            f"{path}: config.json holds a JSON {type(config).__name__}, expected an object "
            "with class_name and config; the file is damaged or not a Keras model"
        )
    if not isinstance(config.get("class_name"), str):
        raise ToolkitError(
            f"{path}: config.json has class_name {config.get('class_name')!r}, expected a string "
            "naming the model class; the file is damaged or not a Keras model"
        )
    if not isinstance(config.get("config", {}), dict):
        raise ToolkitError(
            f"{path}: config.json's config is a JSON {type(config['config']).__name__}, "
            "expected an object; the file is damaged or not a Keras model"
        )
    return config


def load_model(path, allow_unsafe=False, compile=True):
    """Load a ``.keras`` file written by the toolkit (or by Keras) with no ``custom_objects``.

    The file is checked by :func:`check_keras_archive` before Keras is imported.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ToolkitError(f"model file {path} does not exist; pass the path of a .keras file")
    if not path.endswith(".keras"):
        raise ToolkitError(f"model file {path} is not a .keras file; only the Keras v3 format is loaded")
    check_keras_archive(path)

    import keras

    register_custom_objects()
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=not allow_unsafe)
    except ValueError as exc:
        if "Lambda" in str(exc) or "safe_mode" in str(exc):
            raise ToolkitError(
                f"{path} contains a Lambda layer (arbitrary code) and was refused; "
                "load it with allow_unsafe=True only if you trust its source"
            ) from None
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ToolkitError(f"{path}: cannot load model ({first})") from None
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ToolkitError(f"{path}: not a readable .keras file ({exc}); was it written completely?") from None
    except (TypeError, AttributeError, IndexError) as exc:  # a config whose values have the wrong types
        first = (str(exc).splitlines() or [""])[0]
        raise ToolkitError(
            f"{path}: cannot load model, its config has values of the wrong type "
            f"({type(exc).__name__}: {first}); the file is damaged or not a Keras model"
        ) from None

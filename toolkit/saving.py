"""Loading saved models safely.

:func:`load_model` registers every custom object of the toolkit, then calls
``keras.saving.load_model`` with ``safe_mode=True``: a ``.keras`` file holding a ``Lambda``
layer (arbitrary code) is refused unless the caller passes ``allow_unsafe=True``. The
toolkit never unpickles a user file.
"""
import os

from toolkit.errors import ToolkitError


def register_custom_objects():
    """Import the modules whose import registers the toolkit's Keras objects."""
    import toolkit.layers  # noqa: F401
    import toolkit.regularizers  # noqa: F401


def load_model(path, allow_unsafe=False, compile=True):
    """Load a ``.keras`` file written by the toolkit (or by Keras) with no ``custom_objects``."""
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ToolkitError(f"model file {path} does not exist; pass the path of a .keras file")
    if not path.endswith(".keras"):
        raise ToolkitError(f"model file {path} is not a .keras file; only the Keras v3 format is loaded")
    register_custom_objects()
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=not allow_unsafe)
    except ValueError as exc:
        if "Lambda" in str(exc) or "safe_mode" in str(exc):
            raise ToolkitError(
                f"{path} contains a Lambda layer (arbitrary code) and was refused; "
                "load it with allow_unsafe=True only if you trust its source"
            ) from None
        raise ToolkitError(f"{path}: cannot load model ({str(exc).splitlines()[0]})") from None
    except (OSError, KeyError) as exc:
        raise ToolkitError(f"{path}: not a readable .keras file ({exc}); was it written completely?") from None

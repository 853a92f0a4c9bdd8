"""Import a file of scripts/ as a module, the way its command line runs it."""
import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str):
    """Yield scripts/NAME.py as a module, with scripts/ on sys.path meanwhile (a script imports
    its siblings, as its command line does); for a module-scoped fixture: yield from it."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(SCRIPTS))

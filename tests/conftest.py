import sys
from pathlib import Path

# tests import their helpers (e.g. toy.py) by module name
sys.path.insert(0, str(Path(__file__).parent))

# The compiled module sparsenet._sddmm (Cython): its entry points take checked arrays and are typed
# in its .pyx; type checkers see them as Any.
from typing import Any

def __getattr__(name: str) -> Any: ...
